use super::*;

fn targets(text: &str) -> Vec<TransferTargetConfig> {
    #[derive(Deserialize)]
    struct File {
        transfer_targets: Vec<TransferTargetConfig>,
    }
    toml::from_str::<File>(text)
        .expect("transfer target tables")
        .transfer_targets
}

#[test]
fn a_number_or_a_sip_uri_per_target_passes() {
    let t = targets(
        "[[transfer_targets]]\nname = \"billing\"\nnumber = \"+14155550100\"\n\
         [[transfer_targets]]\nname = \"desk\"\nuri = \"sip:desk@pbx.example.com\"\n",
    );
    assert_eq!(validate(&t, &[]), Ok(()));
}

#[test]
fn a_target_needs_exactly_one_of_number_or_uri() {
    let both = targets(
        "[[transfer_targets]]\nname = \"x\"\nnumber = \"+14155550100\"\nuri = \"sip:a@b\"\n",
    );
    assert!(validate(&both, &[]).unwrap_err().contains("not both"));
    let neither = targets("[[transfer_targets]]\nname = \"x\"\n");
    assert!(validate(&neither, &[]).unwrap_err().contains("set number"));
}

#[test]
fn a_number_that_is_not_e164_or_a_uri_that_is_not_sip_is_refused() {
    for number in ["4155550100", "+0415", "+1", "+1415555010012345", "+1 415"] {
        let t = targets(&format!(
            "[[transfer_targets]]\nname = \"x\"\nnumber = \"{number}\"\n"
        ));
        assert!(validate(&t, &[]).unwrap_err().contains("E.164"), "{number}");
    }
    for uri in ["tel:+14155550100", "https://x.example", "sip:"] {
        let t = targets(&format!(
            "[[transfer_targets]]\nname = \"x\"\nuri = \"{uri}\"\n"
        ));
        assert!(validate(&t, &[]).is_err(), "{uri}");
    }
}

#[test]
fn target_names_are_unique_and_plain() {
    let twice = targets(
        "[[transfer_targets]]\nname = \"x\"\nnumber = \"+14155550100\"\n\
         [[transfer_targets]]\nname = \"x\"\nnumber = \"+14155550101\"\n",
    );
    assert!(validate(&twice, &[]).unwrap_err().contains("two"));
    let odd = targets("[[transfer_targets]]\nname = \"a b\"\nnumber = \"+14155550100\"\n");
    assert!(validate(&odd, &[]).unwrap_err().contains("name must be"));
}

#[test]
fn an_agent_naming_an_unconfigured_target_is_refused() {
    let t = targets("[[transfer_targets]]\nname = \"billing\"\nnumber = \"+14155550100\"\n");
    let mut agent = crate::config::AgentConfig::from_model(&Default::default());
    agent.transfer_targets = vec!["billing".into()];
    assert_eq!(validate(&t, std::slice::from_ref(&agent)), Ok(()));
    agent.transfer_targets = vec!["sales".into()];
    let err = validate(&t, &[agent]).unwrap_err();
    assert!(err.contains("\"sales\""), "{err}");
}

#[test]
fn check_reports_each_target_and_warns_when_twilio_calls_cannot_be_transferred() {
    let config: crate::config::Config =
        toml::from_str("[[transfer_targets]]\nname = \"billing\"\nnumber = \"+14155550100\"\n")
            .expect("config");
    let lines = transfer_report(&config, &|_| false);
    assert_eq!(
        lines[0],
        "transfer target billing -> +14155550100 (used by default)"
    );
    assert!(
        lines[1].starts_with("warning: TWILIO_ACCOUNT_SID"),
        "{lines:?}"
    );
    assert_eq!(transfer_report(&config, &|_| true).len(), 1);
}

#[test]
fn a_tools_table_cannot_take_the_name_transfer_call() {
    let text = "[[tools]]\nname = \"transfer_call\"\ndescription = \"x\"\nkind = \"webhook\"\n\
                url = \"https://x.example/t\"\n";
    let env = vec![("WARMLINE_TOOLS_SECRET".to_owned(), "s".to_owned())];
    let err = crate::config::Config::from_toml_and_env(text, std::path::Path::new("t.toml"), env)
        .expect_err("refused");
    assert!(err.to_string().contains("[[transfer_targets]]"), "{err}");
}

#[test]
fn an_agent_naming_an_unknown_target_fails_the_whole_config() {
    let text = "[[agents]]\nid = \"a\"\ninstructions = \"x\"\ndefault = true\n\
                transfer_targets = [\"nowhere\"]\n";
    let err =
        crate::config::Config::from_toml_and_env(text, std::path::Path::new("t.toml"), vec![])
            .expect_err("refused");
    assert!(err.to_string().contains("\"nowhere\""), "{err}");
}
