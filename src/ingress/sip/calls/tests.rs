//! The call table in simulated time: a test call whose schedule is plain
//! data, changed through `get_mut` as the endpoint changes its calls.

use super::*;

#[derive(Debug, Default)]
struct Fake {
    deadline: Option<Duration>,
    live_in: Option<usize>,
}

impl Scheduled for Fake {
    fn schedule(&self) -> Schedule {
        Schedule {
            deadline: self.deadline,
            live_in: self.live_in,
        }
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn call(at: Option<u64>, trunk: Option<usize>) -> Fake {
    Fake {
        deadline: at.map(ms),
        live_in: trunk,
    }
}

fn due(table: &mut CallTable<Fake>, now: Duration) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(key) = table.pop_due(now) {
        out.push(key);
    }
    out
}

#[test]
fn inserted_calls_are_found_by_dialog_and_scheduled_after_settle() {
    let mut table = CallTable::new();
    table.insert(dialog_key("c1@host", "tagA"), call(Some(300), Some(0)));
    table.insert(dialog_key("c2@host", "tagB"), call(Some(100), Some(1)));
    // Nothing is armed before the settle.
    assert_eq!(table.next_deadline(), None);
    table.settle();
    assert_eq!(table.next_deadline(), Some(ms(100)));
    assert!(table.get(&dialog_key("c1@host", "tagA")).is_some());
    assert!(table.get(&dialog_key("c1@host", "tagB")).is_none());
    assert_eq!((table.live(None), table.live(Some(0))), (2, 1));
    assert_eq!(table.live(Some(7)), 0);
}

#[test]
fn a_timer_pass_returns_only_the_due_calls_in_deadline_order() {
    let mut table = CallTable::new();
    for (key, at) in [("a", 30), ("b", 10), ("c", 20), ("d", 500)] {
        table.insert(key.to_owned(), call(Some(at), None));
    }
    table.insert("never".to_owned(), call(None, None));
    table.settle();
    assert_eq!(due(&mut table, ms(25)), vec!["b", "c"]);
    // Popped calls are re-read at the settle: unchanged ones come back.
    table.settle();
    assert_eq!(due(&mut table, ms(25)), vec!["b", "c"]);
    table.get_mut("b").expect("b").deadline = Some(ms(40));
    table.get_mut("c").expect("c").deadline = None;
    table.settle();
    assert_eq!(due(&mut table, ms(100)), vec!["a", "b"]);
    assert_eq!(table.next_deadline(), Some(ms(500)));
}

#[test]
fn re_arming_moves_the_one_timer_of_a_call_and_leaves_no_stale_entry() {
    let mut table = CallTable::new();
    table.insert("x".to_owned(), call(Some(1_000), None));
    table.settle();
    for at in [900, 50, 2_000, 2_000, 10] {
        table.get_mut("x").expect("x").deadline = Some(ms(at));
        table.settle();
        assert_eq!(table.armed(), 1, "one timer per call");
        assert_eq!(table.next_deadline(), Some(ms(at)));
    }
    // The old deadlines never fire.
    assert_eq!(due(&mut table, ms(5)), Vec::<String>::new());
    assert_eq!(due(&mut table, ms(10)), vec!["x"]);
}

#[test]
fn removing_a_call_removes_its_timer_and_counts_even_with_a_pending_mark() {
    let mut table = CallTable::new();
    table.insert("gone".to_owned(), call(Some(10), Some(3)));
    table.insert("stays".to_owned(), call(Some(20), Some(3)));
    table.settle();
    // Marked, then removed before the settle: the stale mark is skipped.
    table.get_mut("gone").expect("gone").deadline = Some(ms(5));
    assert!(table.remove("gone").is_some());
    table.settle();
    assert_eq!(table.armed(), 1);
    assert_eq!(table.live(Some(3)), 1);
    assert_eq!(due(&mut table, ms(100)), vec!["stays"]);
    assert!(table.remove("stays").is_some());
    table.settle();
    assert_eq!((table.armed(), table.live(None), table.len()), (0, 0, 0));
    assert!(table.is_empty());
    assert_eq!(table.next_deadline(), None);
}

#[test]
fn a_call_that_starts_ending_stops_counting_toward_admission() {
    let mut table = CallTable::new();
    table.insert("k".to_owned(), call(None, Some(2)));
    table.settle();
    assert_eq!((table.live(None), table.live(Some(2))), (1, 1));
    table.get_mut("k").expect("k").live_in = None;
    table.settle();
    assert_eq!((table.live(None), table.live(Some(2))), (0, 0));
    assert_eq!(table.len(), 1, "still in the table until it is removed");
    table.get_mut("k").expect("k").live_in = Some(2);
    table.settle();
    table.remove("k");
    assert_eq!(table.live(None), 0);
}

#[test]
fn replacing_a_call_under_the_same_key_keeps_one_timer() {
    let mut table = CallTable::new();
    table.insert("k".to_owned(), call(Some(10), Some(0)));
    table.settle();
    table.insert("k".to_owned(), call(Some(70), Some(0)));
    table.settle();
    assert_eq!((table.armed(), table.live(None)), (1, 1));
    assert_eq!(table.next_deadline(), Some(ms(70)));
}
