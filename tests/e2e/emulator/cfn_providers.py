"""Add CloudFormation resource providers to LocalStack without losing any of its own (shared by the provider shims).

LocalStack loads community resource providers from a plux plugin manager, `resource_provider.plugin_manager`, looked
up at each use. add() replaces it with a manager whose finder returns every spec the current manager's finder returns
(minus the types added here) plus the added ones; since it wraps whatever manager is current, shims installed one
after another compose (each keeps the others' providers).
"""

from __future__ import annotations

from collections.abc import Callable


def add(providers: dict[str, Callable[[], type]]) -> None:
    """`providers`: resource type -> function returning its ResourceProvider class (called when the type is first
    loaded, so LocalStack's modules are imported only once the emulator runs)."""
    from localstack.services.cloudformation import resource_provider
    from localstack.services.cloudformation.resource_provider import CloudFormationResourceProviderPlugin
    from plux import PluginManager
    from plux.core.plugin import PluginFinder, PluginSpec

    namespace = CloudFormationResourceProviderPlugin.namespace
    current = resource_provider.plugin_manager

    def plugin_class(type_name: str, provider_class: Callable[[], type]) -> type:
        class ProviderPlugin(CloudFormationResourceProviderPlugin):
            name = type_name

            def __init__(self) -> None:
                self.factory: type | None = None

            def load(self) -> None:
                self.factory = provider_class()

        return ProviderPlugin

    added = [PluginSpec(namespace, name, plugin_class(name, make)) for name, make in providers.items()]

    class Finder(PluginFinder):
        def find_plugins(self) -> list[PluginSpec]:
            return [*(spec for spec in current.finder.find_plugins() if spec.name not in providers), *added]

    resource_provider.plugin_manager = PluginManager(namespace, finder=Finder())
