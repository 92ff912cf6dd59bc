//! Twilio's side of `transfer_call`: the REST update that replaces a live
//! call's TwiML with `<Dial>` (protocols.md §1.9). Twilio then stops the
//! call's Media Stream and dials the target; warmline's part of the call
//! ends there.

use std::time::Duration;

use crate::call::blind_transfer::TransferDestination;

/// The whole REST request, connection included.
pub const REST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an error answer read for its message.
const MAX_ERROR_BYTES: usize = 8 * 1024;

/// Why Twilio did not take the update.
#[derive(Debug, thiserror::Error)]
pub enum TwilioRestError {
    /// An id is not something a URL path can carry as is.
    #[error("the call id {0:?} is not a Twilio id")]
    BadId(String),
    /// Twilio answered with an error.
    #[error("Twilio answered HTTP {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// Twilio's message, or the status's reason.
        message: String,
    },
    /// No answer in [`REST_TIMEOUT`].
    #[error("Twilio did not answer within {} s", REST_TIMEOUT.as_secs())]
    Timeout,
    /// The request could not be made or sent.
    #[error("Twilio could not be reached: {0}")]
    Unreachable(String),
}

/// Twilio's REST API with the account's credentials.
pub struct TwilioRest {
    base: String,
    account_sid: String,
    token: String,
}

impl TwilioRest {
    /// The API at `base` (no trailing `/`) for `account_sid`.
    pub fn new(base: &str, account_sid: String, token: String) -> TwilioRest {
        TwilioRest {
            base: base.trim_end_matches('/').to_owned(),
            account_sid,
            token,
        }
    }

    /// `POST {base}/2010-04-01/Accounts/{AccountSid}/Calls/{call_sid}.json`
    /// with `Twiml=<Response><Dial>…</Dial></Response>`.
    pub async fn dial(
        &self,
        client: &reqwest::Client,
        call_sid: &str,
        destination: &TransferDestination,
    ) -> Result<(), TwilioRestError> {
        for id in [self.account_sid.as_str(), call_sid] {
            if id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(TwilioRestError::BadId(id.chars().take(64).collect()));
            }
        }
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Calls/{call_sid}.json",
            self.base, self.account_sid
        );
        let body = form(&[("Twiml", &dial_twiml(destination))])?;
        let request = client
            .post(url)
            .basic_auth(&self.account_sid, Some(&self.token))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send();
        let response = match tokio::time::timeout(REST_TIMEOUT, request).await {
            Err(_) => return Err(TwilioRestError::Timeout),
            Ok(Err(e)) => return Err(TwilioRestError::Unreachable(e.to_string())),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let message = read_message(response).await.unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no reason given")
                .to_owned()
        });
        Err(TwilioRestError::Status {
            status: status.as_u16(),
            message,
        })
    }
}

/// Twilio's error `message`, from at most [`MAX_ERROR_BYTES`] of the body.
async fn read_message(mut response: reqwest::Response) -> Option<String> {
    let mut body = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= MAX_ERROR_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
    let value: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let message = value.get("message")?.as_str()?;
    Some(message.chars().take(300).collect())
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form(pairs: &[(&str, &str)]) -> Result<String, TwilioRestError> {
    let mut url = reqwest::Url::parse("http://form.invalid/")
        .map_err(|e| TwilioRestError::Unreachable(e.to_string()))?;
    url.query_pairs_mut().extend_pairs(pairs);
    Ok(url.query().unwrap_or_default().to_owned())
}

/// The TwiML that dials `destination`: what the `twilio` package's
/// `VoiceResponse` builds for `dial().number(…)` or `dial().sip(…)`.
pub fn dial_twiml(destination: &TransferDestination) -> String {
    let noun = match destination {
        TransferDestination::Number(number) => format!("<Number>{}</Number>", escape(number)),
        TransferDestination::Uri(uri) => format!("<Sip>{}</Sip>", escape(uri)),
    };
    format!(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial>{noun}</Dial></Response>"#)
}

/// XML text escaping (`&`, `<`, `>`).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_twiml_holds_a_number_or_an_escaped_sip_uri() {
        assert_eq!(
            dial_twiml(&TransferDestination::Number("+14155550100".into())),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Number>+14155550100</Number></Dial></Response>"#
        );
        assert_eq!(
            dial_twiml(&TransferDestination::Uri(
                "sip:desk@pbx.example.com;a=b&c".into()
            )),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Sip>sip:desk@pbx.example.com;a=b&amp;c</Sip></Dial></Response>"#
        );
    }

    #[test]
    fn the_form_body_is_url_encoded() {
        assert_eq!(
            form(&[("Twiml", "<a b=\"c\">&+</a>")]).expect("form"),
            "Twiml=%3Ca+b%3D%22c%22%3E%26%2B%3C%2Fa%3E"
        );
    }

    #[tokio::test]
    async fn a_call_sid_a_url_path_cannot_carry_is_refused_before_any_request() {
        let rest = TwilioRest::new("http://127.0.0.1:9", "AC1".into(), "t".into());
        let client = reqwest::Client::builder()
            .use_preconfigured_tls((*crate::tls::client_config()).clone())
            .build()
            .expect("a client");
        let err = rest
            .dial(
                &client,
                "CA1/../x",
                &TransferDestination::Number("+1415".into()),
            )
            .await
            .expect_err("refused");
        assert!(matches!(err, TwilioRestError::BadId(_)), "{err}");
    }
}
