// CDK's CloudFormation validation, in a plain Node process beside the synth (stacks/cfn_validate_plugin.py).
//
// argv[2]: the folder holding aws-cdk-lib's own copy of @aws/cloudformation-validate and its default Rego rules
// (unpacked from the installed aws-cdk-lib, so the engine and rules are exactly the synth's). stdin: one JSON request
// per line, {id, templatePath, stackConstructPath, accountId, region}; stdout: one JSON answer per line, {id,
// violations} or {id, error}; first line {version}. Each template is validated and its diagnostics turned into
// violations exactly as aws-cdk-lib's CloudFormationValidatePlugin.validate does (core/lib/validation/
// cloudformation-validate-plugin.js of aws-cdk-lib 2.275.0: same options, same grouping, same descriptions); the
// Python side compares the constants below with that file (tests/stacks/test_cfn_validate_plugin.py).
"use strict";
const fs = require("fs");
const path = require("path");
const readline = require("readline");

const root = process.argv[2];
const engineModule = require(path.join(root, "cloudformation-validate"));
const rulesDir = path.join(root, "rules");

// = IGNORE_RULES and the validateTemplate options of aws-cdk-lib's plugin.
const IGNORE_RULES = ["W3005", "W1020", "E1018", "W9002", "W9013", "W1103"];
const EXCLUDED_SERVICES = [{ ruleId: "W3697", service: "AWS::AutoScaling" }];

function defaultRegoRules() {
  if (!fs.existsSync(rulesDir)) return []; // this aws-cdk-lib ships none
  return fs
    .readdirSync(rulesDir)
    .filter((f) => f.endsWith(".rego"))
    .sort()
    .map((f) => ({ name: f, content: fs.readFileSync(path.join(rulesDir, f), "utf-8") }));
}

function mapSeverity(severity) {
  switch (severity) {
    case "FATAL":
    case "ERROR":
      return "error";
    case "WARN":
      return "warning";
    case "INFO":
      return "informational";
    case "DEBUG":
      return "debug";
    default:
      return "warning";
  }
}

function violationsOf(engine, { templatePath, stackConstructPath, accountId, region }) {
  const report = engine.validateTemplate(new engineModule.TemplateFile(templatePath), {
    detailLevel: "STANDARD",
    pseudoParameterOverrides: { accountId: accountId ?? undefined, region: region ?? undefined },
    exclude: { ids: IGNORE_RULES, services: EXCLUDED_SERVICES },
    severityLevel: "WARN",
  });
  const violations = [];
  for (const diagnostic of report.diagnostics) {
    const severity = mapSeverity(diagnostic.severity);
    const resourceLogicalId = diagnostic.entity?.entityType === "Resource" ? diagnostic.entity.logicalId : undefined;
    const resource = {
      resourceLogicalId,
      constructPath: resourceLogicalId ? undefined : stackConstructPath,
      templatePath,
      locations: diagnostic.propertyPath ? [diagnostic.propertyPath] : [],
    };
    const property = diagnostic.propertyPath ? `${diagnostic.propertyPath.replace(/^Properties\./, "")}: ` : "";
    const description = `${property}${diagnostic.message}`;
    const existing = violations.find(
      (v) => v.ruleName === diagnostic.ruleId && v.severity === severity && v.description === description,
    );
    if (existing) {
      existing.violatingResources.push(resource);
    } else {
      violations.push({
        ruleName: diagnostic.ruleId,
        description,
        severity,
        fix: diagnostic.suggestedFix,
        violatingResources: [resource],
        ruleMetadata: diagnostic.category ? { category: diagnostic.category } : undefined,
      });
    }
  }
  return violations;
}

const rules = defaultRegoRules();
const engine = new engineModule.CompositeEngine(rules.length > 0 ? { regoRules: rules } : {});
process.stdout.write(JSON.stringify({ version: engineModule.version() }) + "\n");
const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const request = JSON.parse(line);
  let answer;
  try {
    answer = { id: request.id, violations: violationsOf(engine, request) };
  } catch (error) {
    answer = { id: request.id, error: String(error && error.stack ? error.stack : error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
lines.on("close", () => engine.free());
