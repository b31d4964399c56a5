"""The two base classes: what defining and creating an extension does, and the mistakes that are
reported when the class is defined instead of as a swallowed ``TypeError`` at every invocation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import pytest

import extkit
from extkit import (
    AppExtensionBase,
    Engine,
    ExtensionDefinitionError,
    FuncExtensionBase,
    FunctionExtensionException,
    Registry,
)

# --- app extensions -----------------------------------------------------------------------------

pytestmark = pytest.mark.usefixtures("no_invocation_outlives_the_test")


def test_defining_an_app_extension_registers_it_once_and_runs_init_once(
    extkit_registry: Registry, extkit_engine: Engine
) -> None:
    inits: list[str] = []
    calls: list[str] = []

    class Counter(AppExtensionBase):
        @classmethod
        def init(cls) -> None:
            inits.append(cls.__name__)

        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append("pre")

    assert inits == ["Counter"]
    assert [entry.extension for entry in extkit_registry.entries()] == [Counter]
    extkit_engine.load(lambda: None, name="work").invoke()
    assert calls == ["pre"]
    assert inits == ["Counter"]


def test_a_subclass_registers_as_itself_and_supersedes_its_parent(
    extkit_registry: Registry, extkit_engine: Engine
) -> None:
    calls: list[str] = []
    inits: list[str] = []

    class Parent(AppExtensionBase):
        @classmethod
        def init(cls) -> None:
            inits.append(cls.__name__)

        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append(f"pre {cls.__name__}")

        @classmethod
        def post_invocation_app_level(cls) -> None:
            calls.append(f"post {cls.__name__}")

    class Child(Parent):
        @classmethod
        def post_invocation_app_level(cls) -> None:
            calls.append(f"child post {cls.__name__}")

    extkit_engine.load(lambda: None, name="work").invoke()
    assert calls == ["pre Child", "child post Child"]
    assert inits == ["Parent"]  # the inherited init already ran for the parent
    assert [entry.extension for entry in extkit_registry.entries()] == [Child]
    listed = {
        entry.name: entry.superseded_by
        for entry in extkit_registry.entries(include_superseded=True)
    }
    assert listed == {"Parent": "Child", "Child": None}


def test_an_abstract_base_is_not_registered_but_its_concrete_subclass_is(
    extkit_registry: Registry, extkit_engine: Engine
) -> None:
    calls: list[str] = []

    class Base(AppExtensionBase, abstract=True):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append(cls.__name__)

    assert len(extkit_registry) == 0

    class Concrete(Base):
        pass

    extkit_engine.load(lambda: None, name="work").invoke()
    assert calls == ["Concrete"]
    assert [entry.extension for entry in extkit_registry.entries(include_superseded=True)] == [
        Concrete
    ]


def test_instantiating_an_app_extension_raises_a_clear_error(extkit_registry: Registry) -> None:
    class Static(AppExtensionBase):
        pass

    with pytest.raises(
        FunctionExtensionException, match=r"Static is an app-level extension.*classmethods"
    ):
        Static()


def test_configure_with_an_unknown_option_names_the_accepted_ones(
    extkit_registry: Registry,
) -> None:
    class Configurable(AppExtensionBase):
        options: ClassVar[dict[str, Any]] = {}

        @classmethod
        def configure(cls, *, append_to_http_response: bool = False, header: str = "x") -> None:
            cls.options = {"append": append_to_http_response, "header": header}

    Configurable.configure(append_to_http_response=True)
    assert Configurable.options == {"append": True, "header": "x"}
    with pytest.raises(TypeError) as raised:
        Configurable.configure(append_to_http_respons=True)
    message = str(raised.value)
    assert "Configurable.configure()" in message
    assert "append_to_http_respons" in message
    assert "accepted: append_to_http_response, header" in message


def test_configure_of_an_extension_without_options_rejects_any_option(
    extkit_registry: Registry,
) -> None:
    class NoOptions(AppExtensionBase):
        pass

    NoOptions.configure()
    with pytest.raises(TypeError, match=r"NoOptions\.configure\(\).*verbose.*accepted: no options"):
        NoOptions.configure(verbose=True)


# --- mistakes found at class definition ----------------------------------------------------------


def test_a_misspelled_hook_name_is_an_error_at_class_definition(extkit_registry: Registry) -> None:
    with pytest.raises(ExtensionDefinitionError) as raised:

        class Typo(AppExtensionBase):
            @classmethod
            def pre_invocaton_app_level(cls) -> None:
                pass

    message = str(raised.value)
    assert "Typo.pre_invocaton_app_level" in message
    assert "'pre_invocation_app_level'" in message
    assert len(extkit_registry) == 0


def test_a_misspelled_function_level_hook_name_is_an_error_at_class_definition(
    extkit_registry: Registry,
) -> None:
    with pytest.raises(ExtensionDefinitionError, match=r"Typo\.post_invocaton.*'post_invocation'"):

        class Typo(FuncExtensionBase):
            def post_invocaton(self) -> None:
                pass


def test_a_legacy_hook_name_is_an_error_naming_its_replacement(extkit_registry: Registry) -> None:
    with pytest.raises(ExtensionDefinitionError) as raised:

        class Legacy(FuncExtensionBase):
            def before_invocation(self) -> None:
                pass

    assert "Legacy.before_invocation" in str(raised.value)
    assert "'pre_invocation'" in str(raised.value)


def test_a_function_level_hook_on_an_app_extension_is_an_error(extkit_registry: Registry) -> None:
    with pytest.raises(ExtensionDefinitionError) as raised:

        class WrongScope(AppExtensionBase):
            @classmethod
            def pre_invocation(cls) -> None:
                pass

    assert "WrongScope.pre_invocation" in str(raised.value)
    assert "'pre_invocation_app_level'" in str(raised.value)


def test_an_app_level_hook_on_a_function_extension_is_an_error(extkit_registry: Registry) -> None:
    with pytest.raises(ExtensionDefinitionError) as raised:

        class WrongScope(FuncExtensionBase):
            def post_invocation_app_level(self) -> None:
                pass

    assert "WrongScope.post_invocation_app_level" in str(raised.value)
    assert "'post_invocation'" in str(raised.value)


def test_an_app_hook_that_is_not_a_classmethod_is_an_error(extkit_registry: Registry) -> None:
    with pytest.raises(ExtensionDefinitionError) as raised:

        class Forgot(AppExtensionBase):
            def pre_invocation_app_level(self) -> None:
                pass

    assert "Forgot.pre_invocation_app_level" in str(raised.value)
    assert "@classmethod" in str(raised.value)
    assert len(extkit_registry) == 0


@pytest.mark.parametrize("scope", ["app", "function"])
def test_a_hook_parameter_the_hook_does_not_provide_is_an_error(
    extkit_registry: Registry, scope: str
) -> None:
    with pytest.raises(ExtensionDefinitionError) as raised:
        if scope == "app":

            class Unknown(AppExtensionBase):
                @classmethod
                def post_invocation_app_level(cls, context: Any, result: Any) -> None:
                    pass

        else:

            class Unknown(FuncExtensionBase):
                def post_invocation(self, context: Any, result: Any) -> None:
                    pass

    message = str(raised.value)
    assert "Unknown.post_invocation" in message
    assert "'result'" in message
    assert "func_ret" in message  # what it could have asked for


def test_a_method_marked_hookimpl_that_is_no_hook_is_an_error(extkit_registry: Registry) -> None:
    with pytest.raises(ExtensionDefinitionError) as raised:

        class Marked(AppExtensionBase):
            @extkit.hookimpl(tryfirst=True)
            @classmethod
            def on_request(cls) -> None:
                pass

    assert "Marked.on_request" in str(raised.value)
    assert "pre_invocation_app_level" in str(raised.value)


def test_an_unknown_parameter_with_a_default_is_accepted(
    extkit_registry: Registry, extkit_engine: Engine
) -> None:
    seen: list[Any] = []

    class Lenient(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, context: Any, verbose: bool = False) -> None:
            seen.append(verbose)

    extkit_engine.load(lambda: None, name="work").invoke()
    assert seen == [False]


def test_an_around_hook_must_be_a_generator(extkit_registry: Registry) -> None:
    with pytest.raises(
        ExtensionDefinitionError, match=r"NotGen\.around_invocation_app_level.*generator"
    ):

        class NotGen(AppExtensionBase):
            @classmethod
            def around_invocation_app_level(cls) -> None:
                pass


def test_helper_methods_with_a_leading_underscore_are_not_hooks(extkit_registry: Registry) -> None:
    class Helpers(AppExtensionBase):
        @classmethod
        def _pre_invocaton_app_level(cls) -> None:
            pass

    assert [entry.extension for entry in extkit_registry.entries()] == [Helpers]


# --- function extensions ----------------------------------------------------------------------


class Recorder(FuncExtensionBase):
    """A function extension defined at module level, as extension packages do."""

    def __init__(self, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        self.calls: list[str] = []

    def pre_invocation(self, context: Any) -> None:
        self.calls.append(context.function_name)


def _invoked_by(extension: Recorder, engine: Engine, *loaded_names: str) -> list[str]:
    for name in loaded_names:
        engine.functions[name].invoke()
    return extension.calls


def test_functions_names_the_target_functions_case_insensitively(
    extkit_registry: Registry, extkit_engine: Engine
) -> None:
    extension = Recorder(functions=["HttpTrigger", "timer"])
    for name in ("httptrigger", "Timer", "Other"):
        extkit_engine.load(lambda: None, name=name)
    assert _invoked_by(extension, extkit_engine, "httptrigger", "Timer", "Other") == [
        "httptrigger",
        "Timer",
    ]


def test_file_binds_to_the_function_whose_folder_holds_it(
    extkit_registry: Registry, extkit_engine: Engine, tmp_path: Path
) -> None:
    app = tmp_path / "app"
    for name in ("HttpTrigger", "Other"):
        (app / name / "helpers").mkdir(parents=True)
    extension = Recorder(os.fspath(app / "HttpTrigger" / "__init__.py"))
    nested = Recorder(os.fspath(app / "HttpTrigger" / "helpers" / "module.py"))
    for name in ("HttpTrigger", "Other"):
        extkit_engine.load(
            lambda: None,
            name=name,
            directory=os.fspath(app / name),
            source_file=os.fspath(app / name / "__init__.py"),
            layout="folder",
        )
    assert _invoked_by(extension, extkit_engine, "HttpTrigger", "Other") == ["HttpTrigger"]
    assert nested.calls == ["HttpTrigger"]


def test_file_of_a_decorator_model_module_binds_to_the_functions_defined_in_it(
    extkit_registry: Registry, extkit_engine: Engine, tmp_path: Path
) -> None:
    function_app = os.fspath(tmp_path / "function_app.py")
    blueprint = os.fspath(tmp_path / "blueprints" / "orders.py")
    extension = Recorder(function_app)
    for name, source in (("hello", function_app), ("bye", function_app), ("orders", blueprint)):
        extkit_engine.load(
            lambda: None,
            name=name,
            directory=os.fspath(tmp_path),
            source_file=source,
            layout="decorator",
        )
    assert _invoked_by(extension, extkit_engine, "hello", "bye", "orders") == ["hello", "bye"]


def test_a_function_extension_runs_its_load_hook_only_for_its_functions(
    extkit_registry: Registry, extkit_engine: Engine
) -> None:
    loaded: list[tuple[str, str]] = []

    class Loads(FuncExtensionBase):
        def post_function_load(self, function_name: str, function_directory: str) -> None:
            loaded.append((function_name, function_directory))

    Loads(functions=["mine"])
    extkit_engine.load(lambda: None, name="mine", directory="/app/mine")
    extkit_engine.load(lambda: None, name="theirs", directory="/app/theirs")
    assert loaded == [("mine", "/app/mine")]


def test_a_subclass_init_that_forgets_super_init_gets_a_clear_error(
    extkit_registry: Registry,
) -> None:
    class Forgetful(FuncExtensionBase):
        def __init__(self, file_path: str) -> None:
            self.path = file_path

        def pre_invocation(self) -> None:
            pass

    with pytest.raises(
        FunctionExtensionException, match=r"Forgetful\.__init__ must call super\(\)\.__init__"
    ):
        Forgetful(__file__)
    assert len(extkit_registry) == 0


def test_a_function_extension_needs_a_file_or_function_names(extkit_registry: Registry) -> None:
    class Unbound(FuncExtensionBase):
        pass

    with pytest.raises(FunctionExtensionException, match=r"Unbound\(__file__\).*functions="):
        Unbound()


def test_the_function_extension_base_itself_cannot_be_instantiated(
    extkit_registry: Registry,
) -> None:
    with pytest.raises(FunctionExtensionException):
        FuncExtensionBase(__file__)
    assert len(extkit_registry) == 0


def test_a_function_extension_with_its_own_init_registers_once_after_it_finished(
    extkit_registry: Registry, extkit_engine: Engine
) -> None:
    class Configured(Recorder):
        def __init__(self, file_path: str, prefix: str) -> None:
            self.prefix = prefix
            super().__init__(file_path)

        def pre_invocation(self, context: Any) -> None:
            self.calls.append(f"{self.prefix}{context.function_name}")

    extension = Configured(__file__, prefix="> ")
    assert [entry.extension for entry in extkit_registry.entries()] == [extension]
    extkit_engine.load(lambda: None, name="work", source_file=__file__)
    extkit_engine.functions["work"].invoke()
    assert extension.calls == ["> work"]
