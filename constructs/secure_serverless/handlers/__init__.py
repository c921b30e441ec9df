"""Runtime code the constructs deploy as inline Lambda source (read as text; never imported by a CDK app)."""
