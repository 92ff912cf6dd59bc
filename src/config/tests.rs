use super::*;
use std::collections::BTreeSet;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_toml_and_env(text, Path::new("test.toml"), env(vars))
}

#[test]
fn no_file_and_no_env_gives_the_embedded_defaults() {
    let config = load("", &[]).expect("defaults are valid");
    assert_eq!(config, Config::default());
    assert_eq!(config.server.http_listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.model.backend, ModelBackend::Auto);
}

#[test]
fn unknown_key_is_rejected_with_its_name_and_line() {
    let err = load(
        "[server]\nhttp_listen = \"127.0.0.1:9000\"\nhttp_lisen = 1\n",
        &[],
    )
    .expect_err("typo must fail");
    let msg = err.to_string();
    assert!(msg.contains("http_lisen"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
}

#[test]
fn unknown_section_is_rejected() {
    let err = load("[sever]\nhttp_listen = \"0.0.0.0:1\"\n", &[]).expect_err("typo must fail");
    assert!(err.to_string().contains("sever"), "{err}");
}

#[test]
fn a_secret_in_the_file_is_rejected_with_a_hint() {
    let err = load("[model]\napi_key = \"sk-123\"\n", &[]).expect_err("secret in file");
    let msg = err.to_string();
    assert!(
        msg.contains("api_key") && msg.contains("environment only"),
        "{msg}"
    );
}

#[test]
fn env_overrides_beat_the_file() {
    let config = load(
        "[server]\nhttp_listen = \"127.0.0.1:9000\"\n[media]\nvad_hangover_ms = 100\n",
        &[
            ("WARMLINE_SERVER__HTTP_LISTEN", "0.0.0.0:8081"),
            ("WARMLINE_LOG__FORMAT", "json"),
            ("WARMLINE_SIP__ENABLED", "false"),
            ("WARMLINE_MEDIA__VAD_MIN_SPEECH_MS", "80"),
            ("UNRELATED", "x"),
        ],
    )
    .expect("valid overrides");
    assert_eq!(config.server.http_listen.to_string(), "0.0.0.0:8081");
    assert_eq!(config.log.format, LogFormat::Json);
    assert!(!config.sip.enabled);
    assert_eq!(config.media.vad_min_speech_ms, 80);
    assert_eq!(config.media.vad_hangover_ms, 100);
}

#[test]
fn unknown_env_override_names_the_variable() {
    let err = load("", &[("WARMLINE_SERVER__HTTP_PORT", "1")]).expect_err("unknown key");
    let msg = err.to_string();
    assert!(
        msg.contains("WARMLINE_SERVER__HTTP_PORT") && msg.contains("http_port"),
        "{msg}"
    );
    let err = load("", &[("WARMLINE_NOSECTION", "1")]).expect_err("malformed name");
    assert!(err.to_string().contains("<SECTION>__<KEY>"), "{err}");
}

#[test]
fn bad_env_value_names_the_variable() {
    let err = load("", &[("WARMLINE_MEDIA__VAD", "neural")]).expect_err("bad variant");
    assert!(err.to_string().contains("WARMLINE_MEDIA__VAD"), "{err}");
}

#[test]
fn inconsistent_values_are_rejected() {
    assert!(load("[media]\njitter_max_ms = 80\n", &[]).is_err());
    assert!(load("[turn]\nresume_after_quiet_ms = 10\n", &[]).is_err());
    assert!(load("[turn]\nfalse_interruption_timeout_ms = 9000\n", &[]).is_err());
    assert!(load("[sip]\nrtp_port_min = 10001\n", &[]).is_err());
}

#[test]
fn secrets_come_from_the_environment_and_never_print() {
    let secrets = Secrets::from_env(env(&[
        ("OPENAI_API_KEY", "sk-secret"),
        ("TWILIO_AUTH_TOKEN", ""),
    ]));
    assert_eq!(secrets.openai_api_key.as_deref(), Some("sk-secret"));
    assert_eq!(secrets.twilio_auth_token, None);
    assert!(!format!("{secrets:?}").contains("sk-secret"));
}

fn keys(value: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let toml::Value::Table(t) = value {
        for (k, v) in t {
            let path = format!("{prefix}{k}");
            keys(v, &format!("{path}."), out);
            out.insert(path);
        }
    }
}

#[test]
fn example_file_documents_every_key_with_its_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("warmline.example.toml");
    let text = std::fs::read_to_string(&path).expect("example exists");
    let parsed = Config::from_toml_and_env(&text, &path, Vec::new()).expect("example is valid");
    assert_eq!(
        parsed,
        Config::default(),
        "example values must be the defaults"
    );

    let mut documented = BTreeSet::new();
    keys(
        &toml::from_str::<toml::Value>(&text).expect("toml"),
        "",
        &mut documented,
    );
    // Optional keys appear commented out; accept "# key =" lines for them.
    let mut section = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some(rest) = line.strip_prefix("# ") {
            if let Some((k, _)) = rest.split_once(" = ") {
                documented.insert(format!("{section}.{k}"));
            }
        }
    }
    let mut all = BTreeSet::new();
    keys(
        &toml::Value::try_from(Config::default()).expect("serialises"),
        "",
        &mut all,
    );
    all.insert("sip.public_ip".to_owned());
    all.insert("twilio.public_base_url".to_owned());
    let missing: Vec<_> = all.difference(&documented).collect();
    assert!(missing.is_empty(), "undocumented keys: {missing:?}");
}

#[test]
fn the_config_file_variable_is_not_taken_for_an_override() {
    let config = load(
        "[sip]\nanswer_delay_ms = 5\n",
        &[
            ("WARMLINE_CONFIG", "/etc/warmline.toml"),
            ("WARMLINE_SIP__MAX_CALLS", "7"),
        ],
    )
    .expect("WARMLINE_CONFIG is the file's name, not a key");
    assert_eq!(config.sip.answer_delay_ms, 5);
    assert_eq!(config.sip.max_calls, 7);
}

#[test]
fn trunks_parse_with_cidrs_and_a_bad_network_names_its_line() {
    let config = load(
        "[[sip.trunks]]\nname = \"carrier\"\nallow = [\"203.0.113.0/24\", \"198.51.100.7\"]\nmax_calls = 10\n",
        &[],
    )
    .expect("trunk");
    assert_eq!(config.sip.trunks.len(), 1);
    assert!(config.sip.trunks[0].allow[1].contains("198.51.100.7".parse().expect("ip")));
    let err = load(
        "[[sip.trunks]]\nname = \"x\"\nallow = [\"300.1.1.1/8\"]\n",
        &[],
    )
    .expect_err("bad cidr");
    assert!(err.to_string().contains("line 3"), "{err}");
    let err = load(
        "[[sip.trunks]]\nname = \"x\"\ndigest_username = \"u\"\n",
        &[],
    )
    .expect_err("password env missing");
    assert!(err.to_string().contains("digest_password_env"), "{err}");
}

const WEBHOOK: &str = r#"
[[tools]]
name = "lookup_order"
description = "Look up an order by number."
kind = "webhook"
url = "https://tools.example.com/orders"
parameters = { type = "object", properties = { order = { type = "string" } }, required = ["order"] }
headers = { "X-Team" = "support" }
headers_env = { "Authorization" = "ORDERS_AUTH" }
secret_env = "ORDERS_SECRET"
idempotent = true
retries = 2
"#;

#[test]
fn a_webhook_tool_loads_with_its_defaults() {
    let config = load(
        WEBHOOK,
        &[("ORDERS_AUTH", "Bearer x"), ("ORDERS_SECRET", "s")],
    )
    .expect("valid");
    let tool = &config.tools[0];
    assert_eq!(tool.method, "POST");
    assert_eq!(tool.timeout_ms, 5_000);
    assert_eq!(tool.filler_after_ms, 700);
    assert_eq!(tool.retries, 2);
    assert_eq!(
        tool.parameters
            .as_ref()
            .and_then(|p| p["required"][0].as_str()),
        Some("order")
    );
}

#[test]
fn a_named_variable_that_is_not_set_is_an_error_naming_the_tool_and_variable() {
    let err = load(WEBHOOK, &[("ORDERS_SECRET", "s")]).expect_err("ORDERS_AUTH unset");
    let message = err.to_string();
    assert!(message.contains("lookup_order"), "{message}");
    assert!(message.contains("ORDERS_AUTH"), "{message}");
}

#[test]
fn variables_the_config_names_and_the_tools_secret_are_not_taken_for_overrides() {
    let text = WEBHOOK.replace("ORDERS_AUTH", "WARMLINE_ORDERS_AUTH");
    let config = load(
        &text,
        &[
            ("WARMLINE_ORDERS_AUTH", "Bearer x"),
            ("ORDERS_SECRET", "s"),
            ("WARMLINE_TOOLS_SECRET", "t"),
            ("WARMLINE_ADMIN_TOKEN", "a"),
        ],
    )
    .expect("named variables are secrets, not overrides");
    assert_eq!(config.tools.len(), 1);
    // Any other WARMLINE_ variable without `__` is still refused.
    let err = load(
        &text,
        &[
            ("WARMLINE_ORDERS_AUTH", "x"),
            ("ORDERS_SECRET", "s"),
            ("WARMLINE_TYPO", "1"),
        ],
    )
    .expect_err("unknown override");
    assert!(err.to_string().contains("WARMLINE_TYPO"), "{err}");
}

#[test]
fn check_rejects_a_bad_schema_a_bad_url_and_unsafe_retries_naming_the_tool() {
    let env = [("ORDERS_AUTH", "x"), ("ORDERS_SECRET", "s")];
    let cases = [
        (
            WEBHOOK.replace(
                "type = \"object\", properties",
                "type = \"array\", properties",
            ),
            "type = \"object\"",
        ),
        (
            WEBHOOK.replace("required = [\"order\"]", "required = [\"id\"]"),
            "not a property",
        ),
        (
            WEBHOOK.replace("https://tools.example.com/orders", "not a url"),
            "not a URL",
        ),
        (
            WEBHOOK.replace(
                "order = { type = \"string\" }",
                "order = { type = \"string\", minLength = -1 }",
            ),
            "parameters schema",
        ),
        (
            WEBHOOK.replace(
                "order = { type = \"string\" }",
                "order = { type = \"string\", pattern = \"([\" }",
            ),
            "parameters schema",
        ),
        (
            WEBHOOK.replace("https://tools.example.com/orders", "ftp://x/y"),
            "http",
        ),
        (
            WEBHOOK.replace("idempotent = true", "idempotent = false"),
            "idempotent",
        ),
        (
            WEBHOOK.replace("kind = \"webhook\"", "kind = \"mcp\""),
            "mcp",
        ),
        (
            format!("{WEBHOOK}approval = \"required\"\napproval_timeout_ms = 10\n"),
            "approval_timeout_ms",
        ),
    ];
    for (text, needle) in cases {
        let err = load(&text, &env).expect_err(needle);
        let message = err.to_string();
        assert!(message.contains("lookup_order"), "{message}");
        assert!(message.contains(needle), "{needle}: {message}");
    }
}

#[test]
fn a_tool_may_require_approval_with_a_timeout_defaulting_to_a_minute() {
    let env = [("ORDERS_AUTH", "x"), ("ORDERS_SECRET", "s")];
    let config = load(&format!("{WEBHOOK}approval = \"required\"\n"), &env).expect("valid");
    assert_eq!(config.tools[0].approval, tools::Approval::Required);
    assert_eq!(config.tools[0].approval_timeout_ms, 60_000);
    let escalate = "[[tools]]\nname = \"escalate_to_human\"\nkind = \"builtin\"\napproval = \"required\"\napproval_timeout_ms = 5000\n";
    let config = load(escalate, &[]).expect("a built-in the sidecar runs may require it");
    assert_eq!(config.tools[0].approval_timeout_ms, 5_000);
    let err = load(&escalate.replace("escalate_to_human", "end_call"), &[])
        .expect_err("end_call never waits");
    assert!(
        err.to_string().contains("end_call cannot require approval"),
        "{err}"
    );
}

#[test]
fn a_webhook_without_any_signing_key_is_refused() {
    let text = WEBHOOK.replace("secret_env = \"ORDERS_SECRET\"\n", "");
    let err = load(&text, &[("ORDERS_AUTH", "x")]).expect_err("no key");
    assert!(err.to_string().contains("WARMLINE_TOOLS_SECRET"), "{err}");
    load(
        &text,
        &[("ORDERS_AUTH", "x"), ("WARMLINE_TOOLS_SECRET", "k")],
    )
    .expect("the shared key signs");
}

#[test]
fn a_parameters_file_is_read_relative_to_the_config_file() {
    let dir = std::env::temp_dir().join(format!("warmline-params-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("order.json"),
        r#"{"type":"object","properties":{"order":{"type":"string"}}}"#,
    )
    .expect("write schema");
    let text = r#"
[[tools]]
name = "lookup_order"
description = "Look up an order."
kind = "webhook"
url = "http://127.0.0.1:9/orders"
parameters_file = "order.json"
"#;
    let config = Config::from_toml_and_env(
        text,
        &dir.join("warmline.toml"),
        env(&[("WARMLINE_TOOLS_SECRET", "k")]),
    )
    .expect("valid");
    assert_eq!(
        config.tools[0]
            .parameters
            .as_ref()
            .map(|p| p["type"].clone()),
        Some(serde_json::json!("object"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn example_file_documents_every_tools_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("warmline.example.toml");
    let text = std::fs::read_to_string(&path).expect("example exists");
    let config = load(WEBHOOK, &[("ORDERS_AUTH", "x"), ("ORDERS_SECRET", "s")]).expect("valid");
    let mut tool = config.tools[0].clone();
    tool.parameters_file = Some("schema.json".into());
    let toml::Value::Table(keys) = toml::Value::try_from(&tool).expect("serialises") else {
        panic!("a table");
    };
    for key in keys.keys() {
        let documented = text.lines().any(|l| {
            l.trim_start_matches(['#', ' '])
                .starts_with(&format!("{key} = "))
        });
        assert!(documented, "tools.{key} is not in warmline.example.toml");
    }
}
