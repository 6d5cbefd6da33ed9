"""Structure of the Terraform code: typed and validated inputs, documented modules, one ASL file, one key schema."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES_DIR = REPO_ROOT / "modules"
MODULES = [
    "alarms",
    "api_gateway",
    "dashboard",
    "dynamodb",
    "lambda_function",
    "media_bucket",
    "queue",
    "step_functions",
]
MODULE_FILES = ["main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"]
ASL_FILE = REPO_ROOT / "statemachines" / "debounce.asl.json.tftpl"
TABLE_SCHEMA_FILE = REPO_ROOT / "schemas" / "dynamodb-table.json"
LAMBDA_NAMES = ["post_message", "process_message", "reply"]

# The environment each function reads (src/debouncer/config.py and the handlers), exactly.
COMMON_ENV = {"TABLE_NAME", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL", "SECRETS_SOURCE"}
# What the settings model checks across fields at every cold start (the window against the workflow type's limit):
# every function must see the values Terraform chose, not the model's defaults.
COMMON_ENV |= {
    "WORKFLOW_TYPE",
    "DEBOUNCE_SECONDS",
    "MAX_WAIT_SECONDS",
    "PROCESS_MESSAGE_TIMEOUT_SECONDS",
    "REPLY_TIMEOUT_SECONDS",
}
# Superseding a stale answer and pausing on a human's echo: post_message, process_message and reply all act on them.
COMMON_ENV |= {"SUPERSEDE_STALE_ANSWERS", "HANDOFF_SECONDS"}
# Whether the deployment has tenants: every function reads their items then (their settings live in the items).
COMMON_ENV |= {"TENANTS_ENABLED"}
CHANNEL_ENV = {
    "WHATSAPP_API_VERSION",
    "WHATSAPP_PHONE_NUMBER_ID",
    "WHATSAPP_ACCESS_TOKEN_PARAM",
    "TELEGRAM_BOT_TOKEN_PARAM",
    "INSTAGRAM_API_VERSION",
    "INSTAGRAM_ACCESS_TOKEN_PARAM",
}
LAMBDA_ENV = {
    "post_message": COMMON_ENV
    | {
        "STATE_MACHINE_ARN",
        "MAX_MESSAGES",
        "FLUSH_KEYWORDS",
        "BUFFER_TTL_SECONDS",
        "META_APP_SECRET_PARAM",
        "META_VERIFY_TOKEN_PARAM",
        "TELEGRAM_SECRET_TOKEN_PARAM",
        "GENERIC_SECRET_PARAM",
        "TELEGRAM_BOT_ID",
    },
    "process_message": COMMON_ENV
    | {
        "AI_PROVIDER",
        "AI_SYSTEM_PROMPT",
        "AI_HISTORY_TURNS",
        "HISTORY_TTL_SECONDS",
        "DEDUPE_TTL_SECONDS",
        "BEDROCK_MODEL_ID",
        "OPENAI_BASE_URL",
        "OPENAI_MODEL",
        "OPENAI_API_KEY_PARAM",
        "AI_TIMEOUT_SECONDS",
        "AI_MAX_ATTEMPTS",
        "AI_MAX_TOKENS",
        "AI_FALLBACK_MESSAGE",
        "AI_TEMPERATURE",  # only when ai_temperature is set (tests/terraform/test_terraform_plan.py)
        "SHOW_TYPING",
        "MEDIA_BUCKET",
        "MAX_MEDIA_BYTES",
        "MEDIA_FETCH_TIMEOUT_SECONDS",
        "AI_MEDIA",
        "TRANSCRIBE_PROVIDER",
        "TRANSCRIBE_BASE_URL",
        "TRANSCRIBE_MODEL",
        "TRANSCRIBE_API_KEY_PARAM",
    }
    | CHANNEL_ENV,  # media downloads (WhatsApp, Telegram) and presence (show_typing) call the channels
    "reply": COMMON_ENV | CHANNEL_ENV | {"GENERIC_CALLBACK_URL", "GENERIC_SECRET_PARAM"},
}

_HCL = SerializationOptions(strip_string_quotes=True, with_comments=False)
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
_OBJECT_KEY = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")


@cache
def load(path: Path) -> dict[str, Any]:
    """A .tf (or .tfvars) file parsed by python-hcl2, string quotes stripped."""
    with path.open() as f:
        doc: dict[str, Any] = hcl2.load(f, serialization_options=_HCL)
    return doc


def label(key: str) -> str:
    """A block label without the quotes some python-hcl2 versions keep."""
    return key.strip('"')


def blocks(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Single-label blocks of one kind (variable, output, module, check), by label."""
    found: dict[str, dict[str, Any]] = {}
    for block in doc.get(kind, []):
        for name, body in block.items():
            if not name.startswith("__"):
                found[label(name)] = body
    return found


def root_locals() -> dict[str, Any]:
    """Every local value of the root module, merged across locals blocks."""
    merged: dict[str, Any] = {}
    for block in load(REPO_ROOT / "main.tf").get("locals", []):
        merged.update({k: v for k, v in block.items() if not k.startswith("__")})
    return merged


def call_arguments(expression: str, function: str) -> str:
    """The text between the parentheses of the first call of `function` in an HCL expression."""
    start = expression.index(f"{function}(") + len(function) + 1
    depth = 1
    for index in range(start, len(expression)):
        char = expression[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return expression[start:index]
    raise AssertionError(f"unbalanced {function}( in {expression!r}")


def top_level_keys(object_literal: str) -> set[str]:
    """Keys of an HCL object literal `{a = x, b = f(y)}`, ignoring keys of nested objects and text in strings."""
    body = object_literal.strip()
    assert body.startswith("{") and body.endswith("}"), f"not an object literal: {object_literal!r}"
    return {match.group(1) for item in split_arguments(body[1:-1]) if (match := _OBJECT_KEY.match(item))}


def split_arguments(arguments: str) -> list[str]:
    """Top-level comma-separated items of a call or an object literal (commas in brackets or strings do not split)."""
    parts: list[str] = []
    current: list[str] = []
    depth, in_string, escaped = 0, False, False
    for char in arguments:
        if in_string:
            in_string = escaped or char != '"'
            escaped = not escaped and char == "\\"
        elif char == '"':
            in_string = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0 and not in_string:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def variable_files() -> list[Path]:
    """variables.tf of the root module and of every module."""
    return [REPO_ROOT / "variables.tf", *(MODULES_DIR / m / "variables.tf" for m in MODULES)]


def all_variables() -> list[tuple[str, str, dict[str, Any]]]:
    """(file, variable name, body) for every variable of the root module and the modules."""
    return [
        (str(path.relative_to(REPO_ROOT)), name, body)
        for path in variable_files()
        for name, body in blocks(load(path), "variable").items()
    ]


# --- inputs -------------------------------------------------------------------------------------------------------


def test_every_tf_file_parses() -> None:
    """python-hcl2 parses every .tf file of the root module and the modules."""
    files = sorted([*REPO_ROOT.glob("*.tf"), *MODULES_DIR.glob("*/*.tf")])
    assert files
    for path in files:
        assert isinstance(load(path), dict), path


@pytest.mark.parametrize(("file", "name", "body"), all_variables(), ids=[f"{f}:{n}" for f, n, _ in all_variables()])
def test_variable_has_description_type_and_validation(file: str, name: str, body: dict[str, Any]) -> None:
    """Every input says what it is, what type it has and which values it accepts."""
    assert str(body.get("description", "")).strip(), f"{file}: variable {name} has no description"
    assert body.get("type"), f"{file}: variable {name} has no type"
    assert "any" not in re.findall(r"[a-z]+", str(body["type"])), f"{file}: variable {name} uses type any"
    validations = body.get("validation", [])
    assert validations, f"{file}: variable {name} has no validation block"
    for validation in validations:
        assert validation.get("condition"), f"{file}: variable {name} has a validation without condition"
        assert str(validation.get("error_message", "")).strip(), f"{file}: variable {name} validation has no message"


def test_variables_exist_in_every_variables_file() -> None:
    """The parametrized check above is not vacuous: the root and each module declare inputs."""
    for path in variable_files():
        assert blocks(load(path), "variable"), f"{path.relative_to(REPO_ROOT)} declares no variable"


def root_validations(name: str) -> list[str]:
    """Condition expressions of one root variable's validation blocks."""
    body = blocks(load(REPO_ROOT / "variables.tf"), "variable")[name]
    return [str(v["condition"]) for v in body.get("validation", [])]


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        pytest.param("debounce_seconds", ["var.debounce_seconds >= 1", "var.debounce_seconds <= 3600"], id="debounce"),
        pytest.param("max_wait_seconds", ["var.max_wait_seconds >= 1", "var.max_wait_seconds <= 86400"], id="max-wait"),
        pytest.param("max_messages", ["var.max_messages >= 1", "var.max_messages <= 95"], id="max-messages"),
        pytest.param("ai_provider", ['"echo"', '"bedrock"', '"openai"', "contains("], id="ai-provider"),
        pytest.param(
            "media_retention_days",
            ["var.media_retention_days >= 1", "var.media_retention_days <= 365"],
            id="media-days",
        ),
        pytest.param("transcribe_provider", ['"none"', '"openai"', '"aws"', "contains("], id="transcribe-provider"),
        pytest.param(
            "handoff_seconds",
            ["var.handoff_seconds >= 0", "var.handoff_seconds <= 2592000", "floor(var.handoff_seconds)"],
            id="handoff",
        ),
        pytest.param("supersede_stale_answers", ["var.supersede_stale_answers != null"], id="supersede"),
    ],
)
def test_tuning_variables_are_range_checked(name: str, fragments: list[str]) -> None:
    """The knobs ops turn are validated on their own ranges / allowed values."""
    conditions = " ".join(root_validations(name))
    for fragment in fragments:
        assert fragment in conditions, f"{name}: no validation containing {fragment!r} in {conditions!r}"


@pytest.mark.parametrize("name", ["max_media_bytes", "media_fetch_timeout_seconds"])
def test_media_limits_are_the_codes(name: str) -> None:
    """Terraform accepts exactly the range (and defaults to the value) config.py's Settings accepts for the setting."""
    from debouncer.config import Settings

    field = Settings.model_fields[name]
    bounds = {op: v for m in field.metadata for op in ("ge", "gt", "le") if (v := getattr(m, op, None)) is not None}
    expected = [
        f"var.{name} {symbol} {bounds[op]}" for op, symbol in (("ge", ">="), ("gt", ">"), ("le", "<=")) if op in bounds
    ]
    conditions = " ".join(root_validations(name))
    assert len(expected) == 2 and all(e in conditions for e in expected), (expected, conditions)
    assert blocks(load(REPO_ROOT / "variables.tf"), "variable")[name]["default"] == field.default


def test_conversation_settings_are_the_codes() -> None:
    """supersede_stale_answers and handoff_seconds default to, and accept exactly the range of, config.py's Settings."""
    from debouncer.config import Settings

    variables = blocks(load(REPO_ROOT / "variables.tf"), "variable")
    supersede = Settings.model_fields["supersede_stale_answers"]
    assert variables["supersede_stale_answers"]["type"] == "bool"
    assert variables["supersede_stale_answers"]["default"] is supersede.default is True

    handoff = Settings.model_fields["handoff_seconds"]
    bounds = {op: v for m in handoff.metadata for op in ("ge", "le") if (v := getattr(m, op, None)) is not None}
    assert bounds == {"ge": 0, "le": 2_592_000}
    conditions = " ".join(root_validations("handoff_seconds"))
    assert f"var.handoff_seconds >= {bounds['ge']}" in conditions
    assert f"var.handoff_seconds <= {bounds['le']}" in conditions
    assert variables["handoff_seconds"]["default"] == handoff.default == 1800


def test_max_wait_not_below_debounce_is_enforced() -> None:
    """max_wait_seconds >= debounce_seconds spans two variables (Terraform >= 1.6): a precondition or check says it."""
    doc = load(REPO_ROOT / "main.tf")
    conditions: list[str] = []
    for resource in doc.get("resource", []):
        for instances in resource.values():
            for body in instances.values() if isinstance(instances, dict) else []:
                for lifecycle in body.get("lifecycle", []) if isinstance(body, dict) else []:
                    conditions += [str(p["condition"]) for p in lifecycle.get("precondition", [])]
    for check in blocks(doc, "check").values():
        conditions += [str(a["condition"]) for a in check.get("assert", [])]
    assert any("var.max_wait_seconds >= var.debounce_seconds" in c for c in conditions), conditions


def test_terraform_and_provider_versions_are_pinned() -> None:
    """Root and modules require Terraform >= 1.6 and the AWS provider ~> 6.0."""
    for path in [REPO_ROOT / "versions.tf", *(MODULES_DIR / m / "versions.tf" for m in MODULES)]:
        terraform = load(path)["terraform"][0]
        assert terraform["required_version"] == ">= 1.6", path
        aws = terraform["required_providers"][0]["aws"]
        assert aws["source"] == "hashicorp/aws", path
        assert aws["version"] == "~> 6.0", path


# --- modules ------------------------------------------------------------------------------------------------------


def test_modules_directory_holds_exactly_the_expected_modules() -> None:
    """One module per AWS concern."""
    assert sorted(p.name for p in MODULES_DIR.iterdir() if p.is_dir()) == MODULES


@pytest.mark.parametrize("module", MODULES)
def test_module_has_its_file_set(module: str) -> None:
    """main.tf, variables.tf, outputs.tf, versions.tf and README.md."""
    missing = [f for f in MODULE_FILES if not (MODULES_DIR / module / f).is_file()]
    assert not missing, f"modules/{module} lacks {missing}"


@pytest.mark.parametrize("module", MODULES)
def test_module_readme_lists_every_input_and_output(module: str) -> None:
    """The README's tables name every variable and every output of the module, and nothing that no longer exists."""
    directory = MODULES_DIR / module
    readme = (directory / "README.md").read_text()
    assert "## Inputs" in readme and "## Outputs" in readme
    inputs_table = readme.split("## Inputs", 1)[1].split("## Outputs", 1)[0]
    outputs_table = readme.split("## Outputs", 1)[1]
    table_names = re.compile(r"^\|\s*`([a-z0-9_]+)`\s*\|", re.MULTILINE)
    variables = set(blocks(load(directory / "variables.tf"), "variable"))
    outputs = set(blocks(load(directory / "outputs.tf"), "output"))
    assert set(table_names.findall(inputs_table)) == variables
    assert set(table_names.findall(outputs_table)) == outputs


@pytest.mark.parametrize("module", MODULES)
def test_module_outputs_are_described(module: str) -> None:
    """Every output carries a description."""
    for name, body in blocks(load(MODULES_DIR / module / "outputs.tf"), "output").items():
        assert str(body.get("description", "")).strip(), f"modules/{module}: output {name} has no description"


# --- the one state machine definition -------------------------------------------------------------------------------


def state_machine_definition() -> str:
    """The `definition` expression of the state machine resource in modules/step_functions."""
    for resource in load(MODULES_DIR / "step_functions" / "main.tf").get("resource", []):
        for instance in resource.get("aws_sfn_state_machine", {}).values():
            if isinstance(instance, dict):
                return str(instance["definition"])
    raise AssertionError("modules/step_functions declares no aws_sfn_state_machine")


def test_asl_placeholders_equal_templatefile_keys() -> None:
    """Every ${placeholder} of the ASL file is supplied by templatefile(), and templatefile() supplies no other key."""
    placeholders = set(_PLACEHOLDER.findall(ASL_FILE.read_text()))
    assert placeholders, "the ASL file has no placeholders"
    arguments = split_arguments(call_arguments(state_machine_definition(), "templatefile"))
    assert len(arguments) == 2, arguments
    assert top_level_keys(arguments[1]) == placeholders


def test_asl_is_rendered_from_the_repository_file() -> None:
    """The module renders a path it is given, and the root gives it statemachines/debounce.asl.json.tftpl (no copy)."""
    arguments = split_arguments(call_arguments(state_machine_definition(), "templatefile"))
    assert arguments[0] == "var.definition_path"
    step_functions = blocks(load(REPO_ROOT / "main.tf"), "module")["step_functions"]
    assert step_functions["source"] == "./modules/step_functions"
    assert step_functions["definition_path"] == "${path.module}/statemachines/debounce.asl.json.tftpl"
    assert not list(REPO_ROOT.glob("modules/**/*.asl.json*")), "a copy of the ASL file lives under modules/"
    json.loads(_PLACEHOLDER.sub("0", ASL_FILE.read_text()))  # numeric placeholders stand bare


# --- the one table key schema ----------------------------------------------------------------------------------------


def test_table_key_schema_is_read_from_the_schema_file() -> None:
    """The root reads schemas/dynamodb-table.json and passes its keys to the dynamodb module."""
    table_schema = root_locals()["table_schema"]
    assert table_schema == '${jsondecode(file("${path.module}/schemas/dynamodb-table.json"))}'
    dynamodb = blocks(load(REPO_ROOT / "main.tf"), "module")["dynamodb"]
    assert dynamodb["source"] == "./modules/dynamodb"
    assert dynamodb["hash_key"] == "${local.table_schema.hash_key}"
    assert dynamodb["range_key"] == "${local.table_schema.range_key}"
    assert dynamodb["attributes"] == "${local.table_schema.attributes}"
    assert dynamodb["ttl_attribute"] == "${local.table_schema.ttl_attribute}"


def test_table_key_names_are_not_retyped_in_terraform() -> None:
    """The key attribute names of the schema file appear in no .tf file as string literals."""
    schema = json.loads(TABLE_SCHEMA_FILE.read_text())
    names = {schema["hash_key"], schema["range_key"]} | {a["name"] for a in schema["attributes"]}
    for path in [*REPO_ROOT.glob("*.tf"), *MODULES_DIR.glob("*/*.tf")]:
        text = path.read_text()
        for name in names:
            assert f'"{name}"' not in text, f"{path.relative_to(REPO_ROOT)} retypes key attribute {name!r}"


# --- the Lambda functions ---------------------------------------------------------------------------------------------


def test_lambda_functions_are_the_three_handlers() -> None:
    """One lambda_function instance per handler directory name, packaged as build/<architecture>/<name>.zip."""
    assert sorted(root_locals()["lambda_functions"]) == LAMBDA_NAMES
    lambda_module = blocks(load(REPO_ROOT / "main.tf"), "module")["lambda"]
    assert lambda_module["source"] == "./modules/lambda_function"
    assert lambda_module["for_each"] == "${local.lambda_functions}"
    assert lambda_module["filename"] == "${path.module}/build/${var.lambda_architecture}/${each.key}.zip"
    assert lambda_module["handler"] == "handler.handler"
    assert lambda_module["runtime"] == "python3.13"


def test_lambda_permissions_cover_exactly_the_three_handlers() -> None:
    """local.lambda_permissions holds one statement list per function."""
    assert sorted(root_locals()["lambda_permissions"]) == LAMBDA_NAMES


def environment_names(expression: Any) -> set[str]:
    """Variable names of one function's environment: the common map plus the literal keys merged into it."""
    if isinstance(expression, dict):
        return set(expression)
    text = str(expression)
    names = set(re.findall(r"\b([A-Z][A-Z0-9_]*)\s*=", text))
    for shared in ("common_environment", "channel_environment"):
        if f"local.{shared}" in text:
            names |= set(root_locals()[shared])
    return names


@pytest.mark.parametrize("function", LAMBDA_NAMES)
def test_lambda_environment_names_match_what_the_code_reads(function: str) -> None:
    """Each function gets exactly the environment variable names its code reads."""
    assert environment_names(root_locals()["lambda_environment"][function]) == LAMBDA_ENV[function]


def test_every_lambda_environment_name_is_a_setting() -> None:
    """No variable is set that the code would silently ignore (Settings ignores unknown names)."""
    from debouncer.config import Settings

    known = {(field.alias or name).upper() for name, field in Settings.model_fields.items()}
    known |= {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"}  # read by Powertools
    for function, names in LAMBDA_ENV.items():
        assert names <= known, f"{function}: {sorted(names - known)} are read by nothing"


# --- the admin API (issue 13) ----------------------------------------------------------------------------------------

ADMIN_ROUTES = [
    "POST /admin/conversations/pause",
    "POST /admin/conversations/resume",
    "GET /admin/conversations/status",
]
API_GATEWAY_MAIN = MODULES_DIR / "api_gateway" / "main.tf"


def api_gateway_routes() -> dict[str, dict[str, Any]]:
    """Every aws_apigatewayv2_route of modules/api_gateway, by resource name."""
    return {
        label(name): body
        for resource in load(API_GATEWAY_MAIN).get("resource", [])
        for name, body in resource.get("aws_apigatewayv2_route", {}).items()
        if not name.startswith("__")
    }


def admin_route_key_pattern() -> re.Pattern[str]:
    """The regex modules/api_gateway validates admin_route_keys with (RE2 and Python agree on this subset)."""
    variable = blocks(load(MODULES_DIR / "api_gateway" / "variables.tf"), "variable")["admin_route_keys"]
    [validation] = variable["validation"]
    [pattern] = re.findall(r'regex\("([^"]+)"', str(validation["condition"]))
    return re.compile(pattern)


def test_the_admin_routes_are_the_codes_and_served_by_post_message() -> None:
    """The root asks for exactly the three admin routes, on the API whose integration is post_message."""
    assert root_locals()["admin_route_keys"] == ADMIN_ROUTES
    api_gateway = blocks(load(REPO_ROOT / "main.tf"), "module")["api_gateway"]
    assert api_gateway["admin_route_keys"] == "${local.admin_route_keys}"
    # The function, or its SnapStart alias with snap_start (tests/terraform/test_snap_start.py plans both).
    assert api_gateway["lambda_function_arn"] == '${module.lambda["post_message"].invoke_target_arn}'
    assert api_gateway["lambda_qualifier"] == '${module.lambda["post_message"].qualifier}'


def test_admin_routes_are_iam_authorized_and_webhooks_open_at_the_gateway() -> None:
    """Two route resources sharing one integration: the webhooks with no gateway authorizer (post_message checks the
    channels' signatures), the admin routes with AWS_IAM; no third resource could open another route."""
    routes = api_gateway_routes()
    assert sorted(routes) == ["admin", "this"]
    webhooks, admin = routes["this"], routes["admin"]
    assert webhooks["for_each"] == "${local.route_keys}" and webhooks["authorization_type"] == "NONE"
    assert admin["for_each"] == "${var.admin_route_keys}" and admin["authorization_type"] == "AWS_IAM"
    assert admin["target"] == webhooks["target"] == "integrations/${aws_apigatewayv2_integration.this.id}"
    assert not any("authorizer_id" in r or "authorization_scopes" in r for r in routes.values())


def test_the_checkov_route_skip_excuses_only_the_webhook_routes() -> None:
    """CKV_AWS_309 (routes must be authorized) is skipped, with its reason, on the webhook routes and nowhere else."""
    text = API_GATEWAY_MAIN.read_text()
    blocks_text = re.split(r"(?m)^(?=resource |data |locals )", text)
    skipped = [b.split("{", 1)[0].strip() for b in blocks_text if "checkov:skip=CKV_AWS_309" in b]
    assert skipped == ['resource "aws_apigatewayv2_route" "this"']


@pytest.mark.parametrize(
    ("route_key", "accepted"),
    [
        *[pytest.param(k, True, id=k) for k in ADMIN_ROUTES],
        pytest.param("ANY /admin/conversations/pause", False, id="any-method"),
        pytest.param("POST /admin/{proxy+}", False, id="greedy-path"),
        pytest.param("GET /admin/conversations/{key}", False, id="path-parameter"),
        pytest.param("POST /admin", False, id="admin-root"),
        pytest.param("POST /webhook/whatsapp", False, id="not-under-admin"),
        pytest.param("$default", False, id="default-route"),
        pytest.param("post /admin/conversations/pause", False, id="lowercase-method"),
    ],
)
def test_admin_route_keys_are_explicit_methods_on_static_admin_paths(route_key: str, accepted: bool) -> None:
    """Only explicit methods on static /admin paths: each has one exact execute-api ARN to grant, and no admin input
    can add an ANY, greedy or $default route."""
    assert bool(admin_route_key_pattern().fullmatch(route_key)) is accepted


def test_admin_policy_grants_invoke_on_the_admin_routes_only() -> None:
    """One statement: execute-api:Invoke on the admin routes' ARNs, built from the API's execution ARN and stage."""
    [data] = [d for d in load(API_GATEWAY_MAIN).get("data", []) if "aws_iam_policy_document" in d]
    [statement] = data["aws_iam_policy_document"]["admin"]["statement"]
    assert (statement["effect"], statement["actions"]) == ("Allow", ["execute-api:Invoke"])
    assert "local.admin_route_arns[k]" in statement["resources"]
    module_locals = {k: v for b in load(API_GATEWAY_MAIN)["locals"] for k, v in b.items() if not k.startswith("__")}
    arns = str(module_locals["admin_route_arns"])
    assert "${aws_apigatewayv2_api.this.execution_arn}/${aws_apigatewayv2_stage.this.name}/" in arns
    outputs = blocks(load(REPO_ROOT / "outputs.tf"), "output")
    assert outputs["admin_api_policy_json"]["value"] == "${module.api_gateway.admin_policy_json}"
    assert outputs["admin_api_url"]["value"] == "${module.api_gateway.api_endpoint}/admin/conversations"


# --- the example --------------------------------------------------------------------------------------------------


EXAMPLE_FILE = REPO_ROOT / "examples" / "terraform.tfvars.example"
_COMMENTED_OPTION = re.compile(r"^# ([a-z_]+) = (.*)$", re.MULTILINE)


def example_options() -> tuple[dict[str, Any], dict[str, str]]:
    """What examples/terraform.tfvars.example sets, and the options it lists commented out (name -> its line)."""
    example = {k: v for k, v in load(EXAMPLE_FILE).items() if not k.startswith("__")}
    text = EXAMPLE_FILE.read_text()
    commented = {m.group(1): m.group(0).removeprefix("# ") for m in _COMMENTED_OPTION.finditer(text)}
    return example, commented


def test_tfvars_example_lists_every_root_variable() -> None:
    """Every root variable is in the example, set or commented out, and each commented line is valid once
    uncommented (tests/terraform/test_terraform_plan.py plans the example as it is)."""
    example, commented = example_options()
    variables = set(blocks(load(REPO_ROOT / "variables.tf"), "variable"))
    assert set(example) | set(commented) == variables
    for name, line in commented.items():
        assert name in hcl2.loads(line + "\n", serialization_options=_HCL), f"# {line} does not parse"


def test_tfvars_example_is_a_safe_first_configuration() -> None:
    """The example sets nothing risky: the echo AI, no typing indicator, no alarm topic in someone's account, no
    tenants, and only the secrets of the one channel it enables, as SSM parameter names, never values."""
    example, _ = example_options()
    assert example["ai_provider"] == "echo"
    assert not {"show_typing", "alarm_sns_topic_arn", "tenants", "kms_key_arn"} & set(example)
    secrets = example["secret_parameter_names"]
    assert set(secrets) == {"telegram_bot_token", "telegram_secret_token"}
    for name, value in secrets.items():
        assert str(value).startswith("/"), f"secret_parameter_names.{name} is no SSM parameter name"
    assert example["telegram_bot_id"].startswith("REPLACE")
    assert "123456789012" not in EXAMPLE_FILE.read_text()


# --- tenants ----------------------------------------------------------------------------------------------------------


def tenants_variable() -> dict[str, Any]:
    """The root `tenants` variable's body."""
    return blocks(load(REPO_ROOT / "variables.tf"), "variable")["tenants"]


def tenants_conditions() -> str:
    """Every validation condition of the `tenants` variable, joined."""
    return " ".join(str(v["condition"]) for v in tenants_variable()["validation"])


def test_tenants_variable_is_the_codes_tenant_model() -> None:
    """The entry Terraform writes per tenant is what debouncer.tenants.Tenant parses (extra keys forbidden): the same
    top-level keys, settings, secret names, channels and id pattern."""
    from typing import get_args

    from debouncer.domain.models import CHANNELS
    from debouncer.tenants import TENANT_ID, SecretName, Tenant, TenantSettings

    variable = tenants_variable()
    assert variable["default"] == [] and variable["nullable"] is False
    type_ = str(variable["type"])
    settings_type = type_.split("settings = optional(object({", 1)[1].split("})", 1)[0]
    assert set(re.findall(r"([a-z_]+) = optional", settings_type)) == set(TenantSettings.model_fields)
    entry_keys = set(re.findall(r"\b([a-z_]+) = ", type_.replace(settings_type, "")))
    assert entry_keys == set(Tenant.model_fields)
    entry = str(root_locals()["tenant_entries"])
    assert top_level_keys("{" + entry.split("=> {", 1)[1].rsplit("}", 2)[0] + "}") == set(Tenant.model_fields)

    conditions = tenants_conditions()
    [secret_list] = {m for m in re.findall(r"setsubtract\(keys\(t\.secrets\), \[([^\]]+)\]", conditions)}
    assert {n.strip().strip('"') for n in secret_list.split(",")} == set(get_args(SecretName))
    [channels] = set(re.findall(r"contains\(\[([^\]]+)\], t\.channel\)", conditions))
    assert tuple(c.strip().strip('"') for c in channels.split(",")) == CHANNELS
    assert f'regex("{TENANT_ID}", t.id)' in conditions


@pytest.mark.parametrize(
    ("setting", "root_variable"),
    [
        ("debounce_seconds", "debounce_seconds"),
        ("max_wait_seconds", "max_wait_seconds"),
        ("max_messages", "max_messages"),
        ("handoff_seconds", "handoff_seconds"),
        ("ai_history_turns", "history_turns"),
    ],
)
def test_tenant_settings_take_the_root_variables_ranges(setting: str, root_variable: str) -> None:
    """A tenant's window and limits are checked on the same ranges as the deployment's own variables."""
    bounds = re.findall(rf"var\.{root_variable} (>=|<=) ([0-9]+)", " ".join(root_validations(root_variable)))
    assert {op for op, _ in bounds} == {">=", "<="}, bounds
    conditions = tenants_conditions()
    for op, value in bounds:
        assert f"t.settings.{setting} {op} {value}" in conditions, (setting, op, value)
    assert f"floor(t.settings.{setting}) == t.settings.{setting}" in conditions


def test_tenant_items_are_keyed_by_the_table_schema() -> None:
    """One aws_dynamodb_table_item per tenant, by id, in the dynamodb module's table, under the key schema's names."""
    [item] = [
        body
        for resource in load(REPO_ROOT / "main.tf").get("resource", [])
        for name, body in resource.get("aws_dynamodb_table_item", {}).items()
        if label(name) == "tenant"
    ]
    assert item["for_each"] == "${local.tenant_entries}"
    assert (item["table_name"], item["hash_key"], item["range_key"]) == (
        "${module.dynamodb.table_name}",
        "${module.dynamodb.hash_key}",
        "${module.dynamodb.range_key}",
    )
    assert "(local.table_schema.hash_key)" in item["item"] and "(local.table_schema.range_key)" in item["item"]


# --- self-tests of the helpers --------------------------------------------------------------------------------------


def test_top_level_keys_ignore_nested_objects() -> None:
    """Keys of nested objects and of function arguments do not count as template keys."""
    assert top_level_keys('{a = var.a, b = merge({c = 1}, {d = "x=y"}), e = f(g = 1), h = "i = j, k = l"}') == {
        "a",
        "b",
        "e",
        "h",
    }


def test_split_arguments_respects_nesting() -> None:
    """Commas inside brackets do not split arguments."""
    assert split_arguments("var.p, {a = [1, 2], b = f(x, y)}") == ["var.p", "{a = [1, 2], b = f(x, y)}"]
