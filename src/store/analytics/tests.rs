use super::*;

fn at(text: &str) -> jiff::Timestamp {
    text.parse().expect("a time")
}

#[test]
fn a_window_is_not_empty_not_longer_than_a_quarter_and_not_before_1970() {
    let from = at("2026-12-01T00:00:00Z");
    assert_eq!(Window::new(from, from), Err(WindowError::Empty));
    assert_eq!(
        Window::new(from, at("2026-11-30T00:00:00Z")),
        Err(WindowError::Empty)
    );
    assert!(Window::new(from, at("2027-03-03T00:00:00Z")).is_ok());
    assert_eq!(
        Window::new(from, at("2027-03-03T00:00:00.001Z")),
        Err(WindowError::TooLong)
    );
    assert_eq!(
        Window::new(at("1969-12-31T23:59:59Z"), from),
        Err(WindowError::BeforeEpoch)
    );
}

#[test]
fn a_window_names_every_utc_date_it_touches_and_bounds_as_stored_times() {
    let w = Window::new(at("2026-12-01T22:00:00Z"), at("2026-12-04T00:00:00Z")).expect("ok");
    assert_eq!(w.days(), ["2026-12-01", "2026-12-02", "2026-12-03"]);
    assert_eq!(
        w.bounds(),
        (
            "2026-12-01T22:00:00.000Z".to_owned(),
            "2026-12-04T00:00:00.000Z".to_owned()
        )
    );
    let w = Window::new(at("2026-12-01T00:00:00Z"), at("2026-12-01T00:00:00.001Z")).expect("ok");
    assert_eq!(w.days(), ["2026-12-01"]);
}

#[test]
fn groupings_are_named_as_the_api_names_them() {
    for g in GroupBy::ALL {
        assert_eq!(GroupBy::parse(g.as_str()), Some(g));
    }
    assert_eq!(GroupBy::parse("week"), None);
}
