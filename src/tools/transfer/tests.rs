use std::sync::Arc;

use super::*;
use crate::call::registry::{command_queue, CallCommand, CallSummary};

fn config(text: &str) -> Config {
    toml::from_str(text).expect("a config")
}

const TWO_AGENTS: &str = r#"
[[transfer_targets]]
name = "billing"
number = "+14155550100"
[[transfer_targets]]
name = "desk"
uri = "sip:desk@pbx.example.com"
[[agents]]
id = "sales"
instructions = "x"
transfer_targets = ["desk"]
default = true
[[agents]]
id = "quiet"
instructions = "y"
"#;

fn call(agent: &str, ingress: &'static str) -> CallIdentity {
    let mut call = CallIdentity::mint(ingress, "c1;tag=a", "+1415", "+1416");
    call.agent = Some(agent.to_owned());
    call
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls((*crate::tls::client_config()).clone())
        .build()
        .expect("a client")
}

#[test]
fn an_agent_sees_only_its_own_targets_as_the_enum_and_one_with_none_gets_no_tool() {
    let transfers = Transfers::new(&config(TWO_AGENTS), &|_| None).expect("targets");
    let spec = transfers.spec_for(Some("sales")).expect("offered");
    assert_eq!(spec.name, "transfer_call");
    assert_eq!(
        spec.parameters["properties"]["target"]["enum"],
        json!(["desk"])
    );
    assert_eq!(spec.parameters["required"], json!(["target"]));
    assert!(transfers.spec_for(Some("quiet")).is_none());
    assert!(transfers.spec_for(None).is_none());
}

#[test]
fn without_agents_the_model_agent_may_use_every_target() {
    let only_targets = TWO_AGENTS.split("[[agents]]").next().unwrap_or_default();
    let transfers = Transfers::new(&config(only_targets), &|_| None).expect("targets");
    let spec = transfers.spec_for(Some(MODEL_AGENT_ID)).expect("offered");
    assert_eq!(
        spec.parameters["properties"]["target"]["enum"],
        json!(["billing", "desk"])
    );
    assert!(Transfers::new(&config(""), &|_| None).is_none());
}

#[tokio::test]
async fn a_transfer_target_that_is_not_configured_gets_a_tool_error_not_a_refer() {
    let registry: SharedRegistry = Arc::new(crate::call::registry::InProcessRegistry::new());
    let transfers = Transfers::new(&config(TWO_AGENTS), &|_| None).expect("targets");
    let sip = call("sales", "sip");
    let id = sip.id.parse().expect("an id");
    let (handle, mut commands) = command_queue(id);
    let _listed = registry
        .register(CallSummary::connecting(&sip).expect("summary"), handle)
        .expect("registered");
    // Unknown anywhere, configured but not this agent's, and no target.
    for arguments in [
        r#"{"target":"+19005550100"}"#,
        r#"{"target":"billing"}"#,
        r#"{"target":"sip:evil@example.com"}"#,
        r#"{}"#,
        "not json",
    ] {
        let output = transfers
            .run(&client(), Some(&registry), &sip, arguments)
            .await;
        let kind = output["error"]["kind"].as_str().unwrap_or_default();
        assert!(
            kind == "unknown_target" || kind == "bad_arguments",
            "{arguments}: {output}"
        );
        let message = output["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("Nothing was dialled"), "{message}");
        assert!(
            message.contains("desk"),
            "names the agent's targets: {message}"
        );
        assert!(
            !message.contains("pbx.example.com"),
            "never the URI: {message}"
        );
    }
    assert!(commands.try_recv().is_err(), "no transfer reached the call");
    // The agent's own target does reach the call's leg.
    let run = tokio::spawn(async move {
        transfers
            .run(&client(), Some(&registry), &sip, r#"{"target":"desk"}"#)
            .await
    });
    match commands.recv().await {
        Some(CallCommand::TransferCaller { target, done }) => {
            assert_eq!(target.name, "desk");
            assert_eq!(
                target.destination,
                TransferDestination::Uri("sip:desk@pbx.example.com".into())
            );
            let _ = done.send(TransferOutcome::Refused {
                reason: "405 Method Not Allowed".into(),
            });
        }
        other => panic!("expected a transfer request, got {other:?}"),
    }
    let output = run.await.expect("ran");
    assert_eq!(output["error"]["kind"], "transfer_refused", "{output}");
}

#[tokio::test]
async fn a_twilio_call_without_an_account_sid_is_told_so_and_nothing_is_dialled() {
    let transfers = Transfers::new(&config(TWO_AGENTS), &|_| None).expect("targets");
    assert!(transfers
        .twilio_warning()
        .is_some_and(|w| w.contains(ACCOUNT_SID_VAR)));
    let output = transfers
        .run(
            &client(),
            None,
            &call("sales", "twilio"),
            r#"{"target":"desk"}"#,
        )
        .await;
    assert_eq!(output["error"]["kind"], "not_configured", "{output}");
    let env = |name: &str| Some(format!("{name}-value"));
    let with = Transfers::new(&config(TWO_AGENTS), &env).expect("targets");
    assert!(with.twilio_warning().is_none());
}

/// A one-shot HTTP server answering every request with `status` and `body`.
async fn answering(status: &'static str, body: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 16 * 1024];
            let _ = socket.read(&mut buf).await;
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    base
}

#[tokio::test]
async fn a_twilio_error_is_told_to_the_model_and_the_call_is_not_left_marked_as_transferring() {
    let base = answering(
        "404 Not Found",
        r#"{"code":20404,"message":"The requested resource was not found","status":404}"#,
    )
    .await;
    let text = format!("[twilio]\napi_base_url = \"{base}\"\n{TWO_AGENTS}");
    let env = |name: &str| Some(format!("{name}-value"));
    let transfers = Transfers::new(&config(&text), &env).expect("targets");
    let registry: SharedRegistry = Arc::new(crate::call::registry::InProcessRegistry::new());
    let mut twilio = call("sales", "twilio");
    twilio.provider_id = "CA0123".into();
    let id = twilio.id.parse().expect("an id");
    let (handle, mut commands) = command_queue(id);
    let _listed = registry
        .register(CallSummary::connecting(&twilio).expect("summary"), handle)
        .expect("registered");
    let marks = tokio::spawn(async move {
        let mut marks = Vec::new();
        while let Some(command) = commands.recv().await {
            if let CallCommand::HandingOver { detail, done } = command {
                marks.push(detail);
                let _ = done.send(());
                if marks.len() == 2 {
                    break;
                }
            }
        }
        marks
    });
    let output = transfers
        .run(&client(), Some(&registry), &twilio, r#"{"target":"desk"}"#)
        .await;
    assert_eq!(output["error"]["kind"], "transfer_failed", "{output}");
    let message = output["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("HTTP 404"), "{message}");
    assert!(message.contains("was not found"), "{message}");
    let marks = tokio::time::timeout(Duration::from_secs(2), marks)
        .await
        .expect("both marks")
        .expect("ran");
    assert!(marks[0].is_some(), "marked before the request: {marks:?}");
    assert_eq!(marks[1], None, "and taken back after the error");
}
