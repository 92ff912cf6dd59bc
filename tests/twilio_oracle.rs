//! warmline's Twilio signature and TwiML against the `twilio` Python
//! package (tests/oracles/twilio_oracle.py), the outside reference.

mod support {
    pub mod oracle;
}

use serde_json::{json, Value};
use warmline::ingress::twilio::signature::{compute, validate};
use warmline::ingress::twilio::twiml::ConnectStream;

fn oracle(input: &Value) -> Value {
    support::oracle::answer("twilio_oracle.py", input)
}

#[test]
fn signatures_match_the_twilio_request_validator() {
    let cases = [
        (
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            vec![
                ("CallSid", "CA1234567890ABCDE"),
                ("Caller", "+12349013030"),
                ("Digits", "1234"),
                ("From", "+12349013030"),
                ("To", "+18005551212"),
            ],
        ),
        (
            "tok",
            "https://voice.example.com/twilio/voice",
            vec![
                ("CallSid", "CA0f"),
                ("From", "+15551230000"),
                ("To", "+15559870000"),
                ("CallStatus", "ringing"),
                ("Direction", "inbound"),
                ("ApiVersion", "2010-04-01"),
                ("AccountSid", "AC11"),
            ],
        ),
        ("tok", "wss://voice.example.com/twilio/stream", vec![]),
        (
            "ünï",
            "https://example.com/x?a=ü",
            vec![("Body", "héllo & <bye>"), ("Empty", "")],
        ),
    ];
    let input = json!({
        "signatures": cases.iter().map(|(t, u, p)| json!({
            "token": t, "url": u,
            "params": p.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>()
    });
    let want = oracle(&input);
    for (i, (token, url, params)) in cases.iter().enumerate() {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let ours = compute(token, url, &params);
        assert_eq!(json!(ours), want["signatures"][i], "case {i}");
        assert_eq!(validate(token, url, &params, Some(&ours)), Ok(()));
    }
}

#[test]
fn connect_stream_twiml_is_what_the_twilio_package_builds() {
    let cases = [
        ConnectStream {
            url: "wss://voice.example.com/twilio/stream".into(),
            name: None,
            status_callback: None,
            parameters: vec![("call_token".into(), "k3y_9&x".into())],
        },
        ConnectStream {
            url: "wss://voice.example.com/twilio/stream".into(),
            name: Some("warmline".into()),
            status_callback: Some("https://voice.example.com/twilio/status".into()),
            parameters: vec![
                ("call_token".into(), "t".into()),
                ("tenant".into(), "a\"b<c>".into()),
            ],
        },
    ];
    let input = json!({
        "twiml": cases.iter().map(|c| json!({
            "url": c.url, "name": c.name, "status_callback": c.status_callback, "parameters": c.parameters,
        })).collect::<Vec<_>>()
    });
    let want = oracle(&input);
    for (i, c) in cases.iter().enumerate() {
        assert_eq!(json!(c.render()), want["twiml"][i], "case {i}");
    }
}
