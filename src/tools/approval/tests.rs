use super::*;

fn gate(timeout_ms: u64) -> Gate {
    let tool: ToolConfig = toml::from_str(&format!(
        "name = \"refund\"\ndescription = \"Refund.\"\nkind = \"webhook\"\nurl = \"http://x/r\"\n\
         approval = \"required\"\napproval_timeout_ms = {timeout_ms}\n\
         parameters = {{ type = \"object\", properties = {{ amount = {{ type = \"integer\", maximum = 100 }} }}, required = [\"amount\"] }}\n"
    ))
    .expect("a tool table");
    let schema = tool.parameters.clone().expect("a schema");
    Gate::of(&tool, &schema).expect("compiles").expect("gated")
}

fn call() -> CallIdentity {
    CallIdentity::mint("twilio", "CA1", "", "")
}

fn refund(arguments: &str) -> ToolCall {
    ToolCall {
        call_id: "fc_1".into(),
        name: "refund".into(),
        arguments: arguments.into(),
    }
}

/// Starts a wait and lets it register; returns its task and the approval id.
async fn start(
    approvals: &Approvals,
    gate: Gate,
    arguments: &str,
) -> (tokio::task::JoinHandle<Verdict>, String) {
    let (a, c, t) = (approvals.clone(), call(), refund(arguments));
    let task = tokio::spawn(async move { a.wait(&gate, &c, &t).await });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let pending = approvals.list();
    assert_eq!(pending.len(), 1, "{pending:?}");
    (task, pending[0].id.clone())
}

#[tokio::test(start_paused = true)]
async fn an_approval_with_edited_arguments_runs_the_tool_with_the_edit() {
    let approvals = Approvals::default();
    let (task, id) = start(&approvals, gate(60_000), r#"{"amount": 90}"#).await;
    let listed = &approvals.list()[0];
    assert_eq!(listed.tool, "refund");
    assert_eq!(listed.arguments, json!({"amount": 90}));
    assert_eq!(
        uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()),
        Ok(7)
    );
    assert!(listed.waiting_since.ends_with('Z'), "{listed:?}");
    approvals
        .decide(
            &id,
            Decision::Approve {
                arguments: Some(json!({"amount": 40})),
                note: None,
            },
        )
        .expect("pending");
    let verdict = task.await.expect("joined");
    assert_eq!(
        verdict,
        Verdict::Run {
            arguments: r#"{"amount":40}"#.into()
        }
    );
    assert!(approvals.list().is_empty());
    assert!(matches!(
        approvals.decide(&id, Decision::Reject { note: None }),
        Err(DecideError::Unknown(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn an_approval_without_an_edit_keeps_the_models_arguments() {
    let approvals = Approvals::default();
    let (task, id) = start(&approvals, gate(60_000), r#"{"amount": 5}"#).await;
    approvals
        .decide(
            &id,
            Decision::Approve {
                arguments: None,
                note: Some("fine".into()),
            },
        )
        .expect("pending");
    assert_eq!(
        task.await.expect("joined"),
        Verdict::Run {
            arguments: r#"{"amount": 5}"#.into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn an_edit_the_schema_refuses_changes_nothing_and_a_reject_reaches_the_model_as_words() {
    let approvals = Approvals::default();
    let (task, id) = start(&approvals, gate(60_000), r#"{"amount": 90}"#).await;
    let refused = approvals.decide(
        &id,
        Decision::Approve {
            arguments: Some(json!({"amount": 500})),
            note: None,
        },
    );
    let Err(DecideError::InvalidArguments(details)) = refused else {
        panic!("{refused:?}");
    };
    assert!(details[0].contains("/amount"), "{details:?}");
    assert_eq!(approvals.list().len(), 1, "still pending");
    approvals
        .decide(
            &id,
            Decision::Reject {
                note: Some("Refunds over 50 need the account owner".into()),
            },
        )
        .expect("pending");
    let Verdict::Answer(output) = task.await.expect("joined") else {
        panic!("a rejected tool does not run");
    };
    assert_eq!(output["status"], STATUS_REJECTED);
    let message = output["message"].as_str().expect("words");
    assert!(
        message.contains("A supervisor declined refund"),
        "{message}"
    );
    assert!(
        message.contains("Refunds over 50 need the account owner"),
        "{message}"
    );
    assert!(message.contains("Tell the caller"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn no_decision_within_the_timeout_answers_the_model_and_forgets_the_approval() {
    let approvals = Approvals::default();
    let started = tokio::time::Instant::now();
    let (task, id) = start(&approvals, gate(2_000), "{}").await;
    let Verdict::Answer(output) = task.await.expect("joined") else {
        panic!("a timed-out tool does not run");
    };
    assert_eq!(started.elapsed(), Duration::from_millis(2_000));
    assert_eq!(output["status"], STATUS_TIMEOUT);
    let message = output["message"].as_str().expect("words");
    assert!(message.contains("within 2 seconds"), "{message}");
    assert!(message.contains("Tell the caller"), "{message}");
    assert!(approvals.list().is_empty());
    assert!(matches!(
        approvals.decide(&id, Decision::Reject { note: None }),
        Err(DecideError::Unknown(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_hang_up_cancels_the_approval_and_removes_it_from_the_list() {
    let approvals = Approvals::default();
    let (task, id) = start(&approvals, gate(60_000), "{}").await;
    task.abort();
    assert!(task.await.expect_err("aborted").is_cancelled());
    assert!(approvals.list().is_empty());
    assert!(matches!(
        approvals.decide(
            &id,
            Decision::Approve {
                arguments: None,
                note: None
            }
        ),
        Err(DecideError::Unknown(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn at_the_cap_a_new_approval_is_answered_at_once_and_not_queued() {
    let approvals = Approvals::new(1);
    let (first, _) = start(&approvals, gate(60_000), "{}").await;
    let verdict = approvals.wait(&gate(60_000), &call(), &refund("{}")).await;
    let Verdict::Answer(output) = verdict else {
        panic!("no room to wait");
    };
    assert_eq!(output["status"], STATUS_BUSY);
    assert_eq!(approvals.list().len(), 1);
    first.abort();
}

#[test]
fn arguments_that_are_not_json_are_listed_as_the_raw_text() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let approvals = Approvals::default();
        let (task, _) = start(&approvals, gate(60_000), "amount=5").await;
        assert_eq!(approvals.list()[0].arguments, json!("amount=5"));
        task.abort();
    });
}

#[test]
fn a_gated_built_in_checks_edits_against_its_own_schema() {
    let tool: ToolConfig = toml::from_str(
        "name = \"escalate_to_human\"\nkind = \"builtin\"\napproval = \"required\"\n",
    )
    .expect("a tool table");
    let specs = crate::tools::specs(std::slice::from_ref(&tool));
    let schema = &specs
        .iter()
        .find(|s| s.name == "escalate_to_human")
        .expect("offered")
        .parameters;
    let gate = Gate::of(&tool, schema).expect("compiles").expect("gated");
    assert!(
        !gate.schema.is_valid(&json!({"urgency": "high"})),
        "reason is required"
    );
    assert!(gate
        .schema
        .is_valid(&json!({"reason": "angry", "urgency": "high"})));
}

#[tokio::test(start_paused = true)]
async fn the_record_of_a_decision_names_who_took_it_and_a_timeout_names_nobody() {
    let approvals = Approvals::default();
    let (a, c, t) = (approvals.clone(), call(), refund(r#"{"amount": 5}"#));
    let g = gate(60_000);
    let task = tokio::spawn(async move { a.wait_recorded(&g, &c, &t).await });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let id = approvals.list()[0].id.clone();
    let decided = approvals
        .decide_by(&id, Decision::Reject { note: None }, "Grace Hopper")
        .expect("pending");
    assert_eq!(decided.tool, "refund");
    assert_eq!(decided.id, id);
    let (verdict, record) = task.await.expect("joined");
    assert!(matches!(verdict, Verdict::Answer(_)));
    assert_eq!(
        record,
        ApprovalRecord {
            decision: "rejected".into(),
            by: Some("Grace Hopper".into())
        }
    );

    let (a, c, t) = (approvals.clone(), call(), refund(r#"{"amount": 5}"#));
    let g = gate(300);
    let (_, record) = a.wait_recorded(&g, &c, &t).await;
    assert_eq!(
        record,
        ApprovalRecord {
            decision: "timeout".into(),
            by: None
        }
    );
}
