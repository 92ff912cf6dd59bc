use super::*;

fn config(text: &str) -> Config {
    Config::from_toml_and_env(
        text,
        std::path::Path::new("test.toml"),
        vec![("WARMLINE_TOOLS_SECRET".to_owned(), "s".to_owned())],
    )
    .expect("valid")
}

const TWO: &str = r#"
[[tools]]
name = "lookup_order"
description = "Look up an order."
kind = "webhook"
url = "https://tools.example.com/orders"

[[agents]]
id = "billing"
instructions = "Billing for {caller}, who called {called} on {trunk}. It is {local_time}."
voice = "cedar"
timezone = "America/New_York"
tools = ["lookup_order", "escalate_to_human"]
greeting = ""
max_duration_secs = 600
turn_detection = "semantic_vad"
eagerness = "low"
noise_reduction = "far_field"
language = "es"

[[agents]]
id = "support"
instructions = "Support."
default = true

[[routes]]
agent = "billing"
number = "+14155550100"
"#;

fn agents(text: &str) -> Agents {
    let config = config(text);
    let base = crate::app::session_config(&config);
    Agents::build(&config, &base, &|_| Some(Backend::Demo(Default::default()))).expect("agents")
}

fn setup() -> CallSetup {
    let config = Config::default();
    CallSetup {
        tool_entries: None,
        events: None,
        registry: None,
        backend: Backend::Demo(Default::default()),
        session: crate::app::session_config(&config),
        call: crate::call::CallConfig::default(),
        ingress: "twilio",
        drain: crate::drain::Drain::default(),
        identity: crate::call::tools::CallIdentity::mint(
            "twilio",
            "CA1",
            "+15550001111",
            "+14155550100",
        ),
        tools: None,
    }
}

#[test]
fn each_agent_gets_its_instructions_voice_tools_and_turn_detection() {
    let agents = agents(TWO);
    let context = CallContext {
        caller: "+15550001111",
        called: "+14155550100",
        trunk: "twilio",
    };
    let billing = agents.route(&context).expect("billing");
    assert_eq!(billing.id, "billing");
    let mut call = setup();
    let now: jiff::Timestamp = "2026-07-04T16:30:00Z".parse().expect("time");
    billing.prepare(&mut call, &context, now);
    assert_eq!(
        call.session.instructions,
        "Billing for +15550001111, who called +14155550100 on twilio. It is Saturday, 2026-07-04 12:30 EDT."
    );
    assert_eq!(call.session.voice, "cedar");
    let tools: Vec<&str> = call.session.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tools, ["end_call", "escalate_to_human", "lookup_order"]);
    assert_eq!(
        call.session.turn_detection,
        TurnDetection::SemanticVad {
            eagerness: "low".into()
        }
    );
    assert_eq!(call.session.noise_reduction.as_deref(), Some("far_field"));
    assert_eq!(call.session.language.as_deref(), Some("es"));
    assert_eq!(
        call.call.greeting, None,
        "greeting = \"\": the caller speaks first"
    );
    assert_eq!(call.call.max_duration, Some(Duration::from_secs(600)));
    assert_eq!(call.identity.agent.as_deref(), Some("billing"));

    let other = CallContext {
        called: "+14155550199",
        ..context
    };
    let support = agents.route(&other).expect("the default agent");
    let mut call = setup();
    support.prepare(&mut call, &other, now);
    assert_eq!(call.session.instructions, "Support.");
    assert_eq!(call.session.voice, "marin", "[model] openai_voice");
    let tools: Vec<&str> = call.session.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tools, ["end_call"], "end_call is always offered");
    assert!(call.call.greeting.is_some(), "the built-in greeting");
    assert_eq!(call.call.max_duration, None);
    assert_eq!(call.identity.agent.as_deref(), Some("support"));
}

#[test]
fn without_agents_every_call_gets_the_model_section_as_before() {
    let agents = agents("[model]\ninstructions = \"Hello {caller}\"\n");
    let context = CallContext {
        caller: "+15550001111",
        called: "anything",
        trunk: "local",
    };
    let agent = agents.route(&context).expect("the [model] agent");
    let mut call = setup();
    let before = call.session.clone();
    agent.prepare(&mut call, &context, jiff::Timestamp::UNIX_EPOCH);
    assert_eq!(call.session.instructions, "Hello +15550001111");
    assert_eq!(
        SessionConfig {
            instructions: before.instructions.clone(),
            ..call.session.clone()
        },
        SessionConfig {
            instructions: before.instructions.clone(),
            ..before
        },
        "everything else as [model] says"
    );
    assert_eq!(call.identity.agent.as_deref(), Some(MODEL_AGENT_ID));
}

#[test]
fn an_unrouted_number_without_a_default_has_no_agent() {
    let agents = agents(&TWO.replace("default = true", ""));
    let context = CallContext {
        caller: "+15550001111",
        called: "+14155550199",
        trunk: "twilio",
    };
    assert!(agents.route(&context).is_none());
}

#[test]
fn tool_selection_is_a_function_of_all_specs_and_the_names() {
    let spec = |name: &str| ToolSpec {
        name: name.into(),
        description: String::new(),
        parameters: serde_json::json!({}),
    };
    let all = [spec("end_call"), spec("a"), spec("b"), spec("c")];
    let names: Vec<String> = vec!["c".into(), "a".into(), "missing".into()];
    let got: Vec<String> = select_tools(&all, &names)
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(got, ["end_call", "a", "c"]);
}

#[test]
fn uri_users() {
    assert_eq!(
        uri_user("sip:+14155550100@10.0.0.1:5060;user=phone"),
        "+14155550100"
    );
    assert_eq!(uri_user("tel:+14155550100;phone-context=x"), "+14155550100");
    assert_eq!(uri_user("+14155550100"), "+14155550100");
    assert_eq!(uri_user("sip:alice:secret@host"), "alice");
}
