use super::*;

fn route(index: usize, agent: &str, number: Option<&str>, trunk: Option<&str>) -> Route {
    Route {
        index,
        agent: agent.to_owned(),
        number: number.map(|n| NumberPattern::parse(n, Some("44")).expect("a valid pattern")),
        trunk: trunk.map(str::to_owned),
    }
}

fn table() -> Router {
    Router::new(
        vec![
            route(0, "fallback", None, None),
            route(1, "carrier", None, Some("carrier")),
            route(2, "uk", Some("+44*"), None),
            route(3, "london", Some("+4420*"), None),
            route(4, "billing", Some("+442071234567"), None),
            route(5, "carrier-billing", Some("+442071234567"), Some("carrier")),
            route(6, "twilio-line", None, Some(TWILIO_TRUNK)),
        ],
        Some("44".to_owned()),
    )
    .expect("no ambiguity")
}

#[test]
fn precedence_runs_trunk_and_number_then_number_then_trunk_then_default() {
    let router = table();
    // (called as it arrived, trunk, agent expected)
    let cases: &[(&str, Option<&str>, &str)] = &[
        // Exact number beats every prefix.
        ("+442071234567", None, "billing"),
        // Trunk and number beat the number alone.
        ("+442071234567", Some("carrier"), "carrier-billing"),
        // The longest prefix wins.
        ("+442079999999", None, "london"),
        ("+441619999999", None, "uk"),
        // A number route beats a trunk route.
        ("+441619999999", Some("carrier"), "uk"),
        // A trunk route beats the default.
        ("+15551230000", Some("carrier"), "carrier"),
        ("+15551230000", Some(TWILIO_TRUNK), "twilio-line"),
        // Nothing else: the default.
        ("+15551230000", None, "fallback"),
        ("+15551230000", Some("other-trunk"), "fallback"),
        // Normalisation: national digits get the country code.
        ("02071234567", None, "billing"),
        ("020 7123 4567", None, "billing"),
        ("0044 20 7123-4567", None, "billing"),
        ("(020) 7999.9999", None, "london"),
        // Not a number (a SIP user name): trunk and default routes only.
        ("support", Some("carrier"), "carrier"),
        ("support", None, "fallback"),
    ];
    for (called, trunk, expected) in cases {
        let got = router.route(called, *trunk).map(|r| r.agent.as_str());
        assert_eq!(got, Some(*expected), "{called} on {trunk:?}");
    }
}

#[test]
fn without_a_default_an_unmatched_call_has_no_route() {
    let router = Router::new(vec![route(0, "billing", Some("+442071234567"), None)], None)
        .expect("no ambiguity");
    assert!(router.route("+15551230000", None).is_none());
    assert!(router.route("+15551230000", Some("carrier")).is_none());
    assert_eq!(
        router
            .route("+442071234567", Some("carrier"))
            .map(|r| r.index),
        Some(0)
    );
}

#[test]
fn two_routes_with_the_same_trunk_and_number_are_ambiguous() {
    let error = Router::new(
        vec![
            route(0, "a", Some("+1415*"), None),
            route(1, "b", Some("+1415*"), Some("carrier")),
            route(2, "c", Some("+1415 *"), None),
        ],
        None,
    )
    .expect_err("routes 0 and 2 match the same numbers");
    assert_eq!((error.first, error.second), (0, 2));
    assert!(
        error.to_string().contains("routes[0] and routes[2]"),
        "{error}"
    );
    assert!(error.to_string().contains("+1415*"), "{error}");
    let two_defaults = Router::new(
        vec![route(0, "a", None, None), route(3, "b", None, None)],
        None,
    )
    .expect_err("two defaults");
    assert!(
        two_defaults.to_string().contains("default"),
        "{two_defaults}"
    );
}

#[test]
fn numbers_normalise_to_e164() {
    let cases: &[(&str, Option<&str>, Option<&str>)] = &[
        ("+1 (415) 555-0100", None, Some("+14155550100")),
        ("004930123456", None, Some("+4930123456")),
        ("030123456", Some("49"), Some("+4930123456")),
        ("030123456", Some("+49"), Some("+4930123456")),
        ("4155550100", Some("1"), Some("+14155550100")),
        ("4155550100", None, Some("4155550100")),
        ("alice", Some("1"), None),
        ("+", None, None),
        ("+1234567890123456", None, None),
    ];
    for (raw, cc, expected) in cases {
        assert_eq!(
            normalise(raw, *cc).as_deref(),
            *expected,
            "{raw} with {cc:?}"
        );
    }
    assert_eq!(NumberPattern::parse("*", None), None);
    assert_eq!(
        NumberPattern::parse("+1415*", None),
        Some(NumberPattern::Prefix("+1415".into()))
    );
}
