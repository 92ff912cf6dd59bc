use std::path::Path;

use super::*;

fn load(text: &str) -> Result<Config, crate::config::ConfigError> {
    Config::from_toml_and_env(text, Path::new("test.toml"), Vec::<(String, String)>::new())
}

const TWO_AGENTS: &str = r#"
[[tools]]
name = "lookup_order"
description = "Look up an order."
kind = "webhook"
url = "https://tools.example.com/orders"

[[agents]]
id = "billing"
name = "Billing line"
instructions = "You answer billing questions for {caller}."
voice = "cedar"
tools = ["lookup_order"]

[[agents]]
id = "support"
instructions = "You are support."
timezone = "Europe/Madrid"
default = true

[[routes]]
agent = "billing"
number = "+14155550100"

[[routes]]
agent = "support"
number = "+1415*"
"#;

fn with_secret(text: &str) -> Result<Config, crate::config::ConfigError> {
    Config::from_toml_and_env(
        text,
        Path::new("test.toml"),
        vec![("WARMLINE_TOOLS_SECRET".to_owned(), "s".to_owned())],
    )
}

#[test]
fn two_agents_and_their_routes_load_and_route() {
    let config = with_secret(TWO_AGENTS).expect("valid");
    assert_eq!(config.agents.len(), 2);
    let router = config.router().expect("router");
    let agent = |n: &str| router.route(n, None).map(|r| r.agent.clone());
    assert_eq!(agent("+14155550100").as_deref(), Some("billing"));
    assert_eq!(agent("+14155550199").as_deref(), Some("support"));
    // default = true answers what no route matches.
    assert_eq!(agent("+33123456789").as_deref(), Some("support"));
}

#[test]
fn check_lists_each_route_with_its_agent() {
    let config = with_secret(TWO_AGENTS).expect("valid");
    let lines = routes_report(&config).expect("report");
    assert_eq!(
        lines,
        vec![
            "route number +14155550100 -> agent billing (Billing line)",
            "route number +1415* -> agent support",
            "route default -> agent support (default = true)",
        ]
    );
    let lines = routes_report(&Config::default()).expect("report");
    assert_eq!(
        lines,
        vec!["route default -> agent default (default = true)"]
    );
}

#[test]
fn a_route_to_an_unknown_agent_is_rejected_naming_the_route() {
    let text = TWO_AGENTS.replace("agent = \"support\"\nnumber", "agent = \"suport\"\nnumber");
    let error = with_secret(&text).expect_err("unknown agent").to_string();
    assert!(error.contains("routes[1]"), "{error}");
    assert!(error.contains("\"suport\""), "{error}");
    assert!(error.contains("no agent has this id"), "{error}");
}

#[test]
fn an_agent_naming_an_unknown_tool_is_rejected_naming_the_agent_and_tool() {
    let text = TWO_AGENTS.replace("tools = [\"lookup_order\"]", "tools = [\"lookup_ordr\"]");
    let error = with_secret(&text).expect_err("unknown tool").to_string();
    assert!(error.contains("agent \"billing\""), "{error}");
    assert!(error.contains("\"lookup_ordr\""), "{error}");
}

#[test]
fn two_routes_matching_the_same_number_with_the_same_priority_are_rejected() {
    let text = format!("{TWO_AGENTS}\n[[routes]]\nagent = \"billing\"\nnumber = \"+1 415*\"\n");
    let error = with_secret(&text).expect_err("ambiguous").to_string();
    assert!(error.contains("routes[1] and routes[2]"), "{error}");
    assert!(error.contains("+1415*"), "{error}");
}

#[test]
fn other_agent_mistakes_name_the_agent() {
    let cases = [
        (
            "timezone = \"Europe/Madrid\"",
            "timezone = \"Mars/Olympus\"",
            "timezone",
        ),
        (
            "voice = \"cedar\"",
            "voice = \"cedar\"\nsilence_reprompt_secs = 30\nsilence_hangup_secs = 10",
            "silence_hangup_secs",
        ),
        (
            "voice = \"cedar\"",
            "voice = \"cedar\"\nlookup = \"nope\"",
            "lookup",
        ),
        ("id = \"support\"", "id = \"billing\"", "two agents"),
        (
            "default = true",
            "default = true\nvad_threshold = 2.0",
            "vad_threshold",
        ),
    ];
    for (from, to, what) in cases {
        let error = with_secret(&TWO_AGENTS.replace(from, to))
            .expect_err(what)
            .to_string();
        assert!(error.contains(what), "{what}: {error}");
        assert!(error.contains("agent"), "{what}: {error}");
    }
    let error = with_secret(&format!("{TWO_AGENTS}\n[[routes]]\nagent = \"billing\"\n"))
        .expect_err("two defaults")
        .to_string();
    assert!(
        error.contains("routes[2]") && error.contains("\"support\" is default = true"),
        "{error}"
    );
    let error = load("[[routes]]\nagent = \"default\"\nnumber = \"call-me\"\n")
        .expect_err("bad number")
        .to_string();
    assert!(
        error.contains("routes[0]") && error.contains("call-me"),
        "{error}"
    );
    let error = load("[[routes]]\nagent = \"default\"\ntrunk = \"nowhere\"\n")
        .expect_err("bad trunk")
        .to_string();
    assert!(
        error.contains("routes[0]") && error.contains("nowhere"),
        "{error}"
    );
}

#[test]
fn without_agents_the_model_section_is_the_one_default_agent() {
    let config =
        load("[model]\ninstructions = \"Be kind.\"\nopenai_voice = \"ash\"\n").expect("valid");
    let agents = config.effective_agents();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].id, MODEL_AGENT_ID);
    assert_eq!(agents[0].instructions.as_deref(), Some("Be kind."));
    assert_eq!(
        config
            .router()
            .expect("router")
            .route("+15550000", None)
            .map(|r| r.agent.as_str()),
        Some(MODEL_AGENT_ID)
    );
    // Routes may name it.
    load("[[routes]]\nagent = \"default\"\nnumber = \"+1555*\"\n").expect("the [model] agent");
}

#[test]
fn agents_without_a_default_or_routes_refuse_unrouted_calls() {
    let config = load("[[agents]]\nid = \"a\"\ninstructions = \"x\"\n\n[[routes]]\nagent = \"a\"\nnumber = \"+15550100\"\n")
        .expect("valid");
    assert!(config
        .router()
        .expect("router")
        .route("+15550199", None)
        .is_none());
    let lines = routes_report(&config).expect("report");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("route default -> none: unrouted calls are refused")
    );
}

#[test]
fn an_instructions_file_is_read_relative_to_the_config_file() {
    let dir = std::env::temp_dir().join(format!("warmline-agents-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("prompts")).expect("dir");
    std::fs::write(dir.join("prompts/billing.txt"), "Billing, from a file.").expect("write");
    let config = Config::from_toml_and_env(
        "[[agents]]\nid = \"billing\"\ninstructions_file = \"prompts/billing.txt\"\ndefault = true\n",
        &dir.join("warmline.toml"),
        Vec::<(String, String)>::new(),
    )
    .expect("valid");
    assert_eq!(
        config.agents[0].instructions.as_deref(),
        Some("Billing, from a file.")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn example_file_documents_every_agents_and_routes_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("warmline.example.toml");
    let text = std::fs::read_to_string(&path).expect("example exists");
    let mut agent = AgentConfig::from_model(&crate::config::ModelConfig::default());
    agent.instructions_file = Some("x".into());
    agent.backend = Some(crate::config::ModelBackend::Openai);
    agent.model = Some("m".into());
    agent.voice = Some("v".into());
    agent.language = Some("en".into());
    agent.noise_reduction = Some(NoiseReduction::NearField);
    agent.greeting = Some(String::new());
    agent.skill = Some("s".into());
    agent.lookup = Some("l".into());
    let route = RouteConfig {
        agent: "a".into(),
        number: Some("+1".into()),
        trunk: Some("t".into()),
    };
    let routing = RoutingConfig {
        default_country_code: Some("1".into()),
    };
    for (section, value) in [
        ("agents", toml::Value::try_from(&agent)),
        ("routes", toml::Value::try_from(&route)),
        ("routing", toml::Value::try_from(&routing)),
    ] {
        let Ok(toml::Value::Table(keys)) = value else {
            panic!("a table");
        };
        for key in keys.keys() {
            let documented = text.lines().any(|l| {
                l.trim_start_matches(['#', ' '])
                    .starts_with(&format!("{key} = "))
            });
            assert!(
                documented,
                "{section}.{key} is not in warmline.example.toml"
            );
        }
    }
}

#[test]
fn the_webrtc_pseudo_trunk_routes_try_calls_and_other_unknown_trunks_are_rejected() {
    let text = format!("{TWO_AGENTS}\n[[routes]]\nagent = \"billing\"\ntrunk = \"webrtc\"\n");
    let config = with_secret(&text).expect("webrtc is a known pseudo-trunk");
    let router = config.router().expect("router");
    // A /try call: no called number, the webrtc pseudo-trunk.
    let agent = router.route("", Some(crate::config::routing::WEBRTC_TRUNK));
    assert_eq!(agent.map(|r| r.agent.as_str()), Some("billing"));
    // Without that route, /try gets the default agent.
    let config = with_secret(TWO_AGENTS).expect("valid");
    let router = config.router().expect("router");
    let agent = router.route("", Some(crate::config::routing::WEBRTC_TRUNK));
    assert_eq!(agent.map(|r| r.agent.as_str()), Some("support"));
    let text = format!("{TWO_AGENTS}\n[[routes]]\nagent = \"billing\"\ntrunk = \"webrtcc\"\n");
    let error = with_secret(&text).expect_err("unknown trunk").to_string();
    assert!(error.contains("\"webrtcc\""), "{error}");
}
