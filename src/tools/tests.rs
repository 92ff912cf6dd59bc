//! The sidecar's unit tests: the specs offered and the built-ins'
//! answers.

use super::*;

fn tool(text: &str) -> ToolConfig {
    toml::from_str(text).expect("a tool table")
}

#[test]
fn the_model_gets_the_built_ins_then_the_configured_tools() {
    let lookup = tool(
        "name = \"lookup_order\"\ndescription = \"Look up an order.\"\nkind = \"webhook\"\n\
         url = \"https://x.example/o\"\n\
         parameters = { type = \"object\", properties = { order = { type = \"string\" } } }\n",
    );
    let end =
        tool("name = \"end_call\"\ndescription = \"Hang up politely.\"\nkind = \"builtin\"\n");
    let specs = specs(&[lookup, end]);
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "end_call",
            "escalate_to_human",
            "send_dtmf",
            "take_callback",
            "lookup_order"
        ]
    );
    assert_eq!(specs[0].description, "Hang up politely.");
    assert_eq!(
        specs[1].parameters["properties"]["urgency"]["enum"],
        json!(["low", "normal", "high"])
    );
    assert_eq!(specs[1].parameters["required"], json!(["reason"]));
    assert_eq!(specs[2].parameters["required"], json!(["digits"]));
    assert_eq!(specs[3].parameters["required"], json!(["kind", "message"]));
    assert_eq!(specs[4].parameters["properties"]["order"]["type"], "string");
}

#[test]
fn escalate_to_human_keeps_a_known_urgency_and_defaults_to_normal() {
    let high = escalate_to_human(r#"{"reason":"angry","urgency":"high"}"#);
    assert_eq!(high["urgency"], "high");
    assert_eq!(high["reason"], "no_reps_configured");
    let odd = escalate_to_human(r#"{"reason":"x","urgency":"now!!"}"#);
    assert_eq!(odd["urgency"], "normal");
    assert_eq!(escalate_to_human("not json")["urgency"], "normal");
}

#[tokio::test]
async fn escalate_to_human_goes_to_the_escalator_and_nobody_logged_in_answers_within_a_second() {
    use crate::call::tools::{CallIdentity, ToolCall, ToolSidecar};
    use crate::handoff::{EscalationConfig, Handoff, InProcessDirectory, RepHub};
    let reps = [crate::config::RepConfig {
        id: "ana".into(),
        name: "Ana".into(),
        skills: vec![],
        token_env: "T".into(),
        sip_password_env: None,
        sip_uri: None,
        outbound: None,
    }];
    let directory = InProcessDirectory::new(&reps, Duration::from_secs(10), &|_| None);
    let handoff = Handoff::new(
        Arc::new(directory),
        Arc::new(RepHub::default()),
        Arc::new(crate::handoff::room::NoRooms),
        EscalationConfig::from(&crate::config::HandoffConfig::default()),
        HashMap::new(),
    );
    let sidecar = Sidecar::new(&[], &|_| None, Handle::current())
        .expect("no tools")
        .with_escalator(Arc::new(handoff));
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let mut call = sidecar.open(CallIdentity::mint("sip", "c", "+1415", "+1416"), tx);
    let started = std::time::Instant::now();
    call.run(ToolCall {
        call_id: "call_1".into(),
        name: "escalate_to_human".into(),
        arguments: r#"{"reason":"wants a person","urgency":"high"}"#.into(),
    });
    let answer = tokio::time::timeout(Duration::from_secs(1), rx.recv())
        .await
        .expect("answered within 1 s")
        .expect("a result");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(answer.call_id, "call_1");
    assert_eq!(answer.approval, None, "no gate, no approval");
    let output: Value = serde_json::from_str(&answer.output).expect("json");
    assert_eq!(output["status"], "unavailable");
    assert_eq!(
        output["reason"], "nobody_logged_in",
        "the escalator answered, not the stub"
    );
    assert_eq!(output["urgency"], "high");
}
