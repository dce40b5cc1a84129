//! The checker on small hand-written histories whose verdicts are known.
//!
//! Histories are written as Jepsen EDN; `:index`/`:time` are left out (they default to the
//! line number), and line order is real-time order.

use std::time::Duration;

use lin_test::history::{Datum, Key};
use lin_test::{
    check_operations, pair_operations, parse_events, CheckOptions, Counterexample, KeyReport,
    Verdict,
};

fn check(history: &str) -> Vec<KeyReport> {
    let events = parse_events(history).expect("test history parses");
    let ops = pair_operations(&events).expect("test history pairs");
    check_operations(&ops, &CheckOptions::default())
}

/// The verdict of a single-key history.
fn verdict(history: &str) -> Verdict {
    let reports = check(history);
    assert_eq!(reports.len(), 1, "expected one key: {reports:?}");
    reports.into_iter().next().map(|r| r.verdict).unwrap()
}

fn assert_linearizable(history: &str) {
    let v = verdict(history);
    assert_eq!(v, Verdict::Linearizable, "history:\n{history}");
}

fn assert_not_linearizable(history: &str) -> Counterexample {
    match verdict(history) {
        Verdict::NotLinearizable(cex) => *cex,
        other => panic!("expected not linearizable, got {other:?}\nhistory:\n{history}"),
    }
}

// ---- linearizable ----------------------------------------------------------------------

#[test]
fn sequential_writes_and_reads() {
    assert_linearizable(
        "\
{:type :invoke, :f :read, :value nil, :process 0}
{:type :ok, :f :read, :value nil, :process 0}
{:type :invoke, :f :write, :value 1, :process 0}
{:type :ok, :f :write, :value 1, :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value 1, :process 1}",
    );
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    for seen in ["nil", "1"] {
        assert_linearizable(&format!(
            "\
{{:type :invoke, :f :write, :value 1, :process 0}}
{{:type :invoke, :f :read, :value nil, :process 1}}
{{:type :ok, :f :read, :value {seen}, :process 1}}
{{:type :ok, :f :write, :value 1, :process 0}}"
        ));
    }
}

#[test]
fn concurrent_writes_may_take_effect_in_either_order() {
    assert_linearizable(
        "\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :invoke, :f :write, :value 2, :process 1}
{:type :ok, :f :write, :value 1, :process 0}
{:type :ok, :f :write, :value 2, :process 1}
{:type :invoke, :f :read, :value nil, :process 2}
{:type :ok, :f :read, :value 1, :process 2}",
    );
}

#[test]
fn cas_chain_and_failed_operations_are_ignored() {
    assert_linearizable(
        "\
{:type :invoke, :f :write, :value 0, :process 0}
{:type :ok, :f :write, :value 0, :process 0}
{:type :invoke, :f :cas, :value [0 1], :process 0}
{:type :ok, :f :cas, :value [0 1], :process 0}
{:type :invoke, :f :cas, :value [0 2], :process 1}
{:type :fail, :f :cas, :value [0 2], :process 1}
{:type :invoke, :f :write, :value 9, :process 2}
{:type :fail, :f :write, :value 9, :process 2}
{:type :invoke, :f :read, :value nil, :process 3}
{:type :fail, :f :read, :value 7, :process 3}
{:type :invoke, :f :cas, :value [1 3], :process 1}
{:type :ok, :f :cas, :value [1 3], :process 1}
{:type :invoke, :f :read, :value nil, :process 0}
{:type :ok, :f :read, :value 3, :process 0}",
    );
}

#[test]
fn an_empty_history_has_no_keys() {
    assert!(check("").is_empty());
}

// ---- not linearizable ------------------------------------------------------------------

#[test]
fn stale_read_after_an_acknowledged_write() {
    let cex = assert_not_linearizable(
        "\
{:type :invoke, :f :write, :value 1, :process 0, :time 0, :index 0}
{:type :ok, :f :write, :value 1, :process 0, :time 1, :index 1}
{:type :invoke, :f :write, :value 2, :process 0, :time 2, :index 2}
{:type :ok, :f :write, :value 2, :process 0, :time 3, :index 3}
{:type :invoke, :f :read, :value nil, :process 1, :time 4, :index 4}
{:type :ok, :f :read, :value 1, :process 1, :time 5, :index 5}
{:type :invoke, :f :read, :value nil, :process 1, :time 6, :index 6}
{:type :ok, :f :read, :value 2, :process 1, :time 7, :index 7}",
    );
    // The stale read is where the search gets stuck; the prefix ends with its completion.
    assert_eq!(cex.stuck.invoke.index, 4);
    assert_eq!(cex.stuck.completion.map(|c| c.index), Some(5));
    assert_eq!(cex.linearized.len(), 2, "both writes fit before it");
    assert_eq!(cex.state, Some(Datum::Int(2)));
    assert!(cex.concurrent.is_empty());
    let text = cex.to_string();
    assert!(text.contains("up to :index 5"), "{text}");
}

#[test]
fn lost_write() {
    let cex = assert_not_linearizable(
        "\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :ok, :f :write, :value 1, :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value nil, :process 1}",
    );
    assert_eq!(cex.stuck.process, 1);
}

#[test]
fn two_cas_from_the_same_value_cannot_both_succeed() {
    let cex = assert_not_linearizable(
        "\
{:type :invoke, :f :write, :value 0, :process 0}
{:type :ok, :f :write, :value 0, :process 0}
{:type :invoke, :f :cas, :value [0 1], :process 1}
{:type :invoke, :f :cas, :value [0 2], :process 2}
{:type :ok, :f :cas, :value [0 1], :process 1}
{:type :ok, :f :cas, :value [0 2], :process 2}",
    );
    // Whichever cas goes first, the other is stuck; it is reported with its rival placed.
    assert_eq!(cex.linearized.len(), 2);
    assert!(cex.concurrent.is_empty());
}

#[test]
fn a_cas_that_succeeded_on_a_value_the_register_never_held() {
    assert_not_linearizable(
        "\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :ok, :f :write, :value 1, :process 0}
{:type :invoke, :f :cas, :value [5 6], :process 1}
{:type :ok, :f :cas, :value [5 6], :process 1}",
    );
}

#[test]
fn reads_going_back_in_time() {
    // Write 1 finished before write 2 began, so once 2 is read, 1 can never be read again.
    let cex = assert_not_linearizable(
        "\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :ok, :f :write, :value 1, :process 0}
{:type :invoke, :f :write, :value 2, :process 1}
{:type :invoke, :f :read, :value nil, :process 2}
{:type :ok, :f :read, :value 2, :process 2}
{:type :invoke, :f :read, :value nil, :process 3}
{:type :ok, :f :read, :value 1, :process 3}
{:type :ok, :f :write, :value 2, :process 1}",
    );
    assert_eq!(cex.stuck.process, 3);
    assert_eq!(cex.concurrent.len(), 0, "write 2 is placed, before read 2");
}

#[test]
fn a_failed_write_must_not_be_visible() {
    assert_not_linearizable(
        "\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :fail, :f :write, :value 1, :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value 1, :process 1}",
    );
}

// ---- info (indeterminate) operations ---------------------------------------------------

#[test]
fn an_info_write_may_take_effect_later() {
    assert_linearizable(
        "\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :info, :f :write, :value 1, :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value nil, :process 1}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value 1, :process 1}",
    );
}

#[test]
fn an_info_write_may_never_take_effect() {
    assert_linearizable(
        "\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :info, :f :write, :value 1, :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value nil, :process 1}",
    );
}

#[test]
fn a_never_completed_write_may_take_effect() {
    assert_linearizable(
        "\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value 1, :process 1}",
    );
}

#[test]
fn an_info_write_takes_effect_at_most_once() {
    assert_not_linearizable(
        "\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :info, :f :write, :value 1, :process 0}
{:type :invoke, :f :write, :value 2, :process 1}
{:type :ok, :f :write, :value 2, :process 1}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value 1, :process 1}
{:type :invoke, :f :write, :value 3, :process 1}
{:type :ok, :f :write, :value 3, :process 1}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value 1, :process 1}",
    );
}

#[test]
fn an_info_write_cannot_take_effect_before_its_invocation() {
    assert_not_linearizable(
        "\
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value 1, :process 1}
{:type :invoke, :f :write, :value 1, :process 0}
{:type :info, :f :write, :value 1, :process 0}",
    );
}

#[test]
fn an_info_read_constrains_nothing() {
    assert_linearizable(
        "\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :ok, :f :write, :value 1, :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :info, :f :read, :value 42, :process 1}
{:type :invoke, :f :read, :value nil, :process 2}",
    );
}

#[test]
fn an_info_cas_may_swap_or_not() {
    let prefix = "\
{:type :invoke, :f :write, :value 0, :process 0}
{:type :ok, :f :write, :value 0, :process 0}
{:type :invoke, :f :cas, :value [0 1], :process 1}
{:type :info, :f :cas, :value [0 1], :process 1}
";
    for read in ["0", "1"] {
        assert_linearizable(&format!(
            "{prefix}{{:type :invoke, :f :read, :value nil, :process 2}}\n\
             {{:type :ok, :f :read, :value {read}, :process 2}}"
        ));
    }
    // Once swapped to 1 it cannot be 0 again.
    assert_not_linearizable(&format!(
        "{prefix}\
{{:type :invoke, :f :read, :value nil, :process 2}}
{{:type :ok, :f :read, :value 1, :process 2}}
{{:type :invoke, :f :read, :value nil, :process 2}}
{{:type :ok, :f :read, :value 0, :process 2}}"
    ));
    // It cannot swap a value the register never held.
    assert_not_linearizable(
        "\
{:type :invoke, :f :write, :value 5, :process 0}
{:type :ok, :f :write, :value 5, :process 0}
{:type :invoke, :f :cas, :value [0 1], :process 1}
{:type :info, :f :cas, :value [0 1], :process 1}
{:type :invoke, :f :read, :value nil, :process 2}
{:type :ok, :f :read, :value 1, :process 2}",
    );
}

// ---- deletes ---------------------------------------------------------------------------

#[test]
fn delete_makes_the_key_absent() {
    assert_linearizable(
        "\
{:type :invoke, :f :write, :value [1 1], :process 0}
{:type :ok, :f :write, :value [1 1], :process 0}
{:type :invoke, :f :delete, :value [1 nil], :process 0}
{:type :ok, :f :delete, :value [1 1], :process 0}
{:type :invoke, :f :read, :value [1 nil], :process 1}
{:type :ok, :f :read, :value [1 nil], :process 1}",
    );
    // Deleting an absent key also succeeds (DEL answers 0, recorded ok).
    assert_linearizable(
        "\
{:type :invoke, :f :delete, :value [1 nil], :process 0}
{:type :ok, :f :delete, :value [1 0], :process 0}
{:type :invoke, :f :cas, :value [1 [nil 3]], :process 0}
{:type :ok, :f :cas, :value [1 [nil 3]], :process 0}",
    );
}

#[test]
fn a_value_read_after_an_acknowledged_delete_is_a_violation() {
    assert_not_linearizable(
        "\
{:type :invoke, :f :write, :value [1 1], :process 0}
{:type :ok, :f :write, :value [1 1], :process 0}
{:type :invoke, :f :delete, :value [1 nil], :process 0}
{:type :ok, :f :delete, :value [1 1], :process 0}
{:type :invoke, :f :read, :value [1 nil], :process 1}
{:type :ok, :f :read, :value [1 1], :process 1}",
    );
}

#[test]
fn an_info_delete_may_take_effect_once() {
    let prefix = "\
{:type :invoke, :f :write, :value [1 1], :process 0}
{:type :ok, :f :write, :value [1 1], :process 0}
{:type :invoke, :f :delete, :value [1 nil], :process 2}
{:type :info, :f :delete, :value [1 nil], :process 2}
";
    for read in ["1", "nil"] {
        assert_linearizable(&format!(
            "{prefix}{{:type :invoke, :f :read, :value [1 nil], :process 1}}\n\
             {{:type :ok, :f :read, :value [1 {read}], :process 1}}"
        ));
    }
    assert_not_linearizable(&format!(
        "{prefix}\
{{:type :invoke, :f :read, :value [1 nil], :process 1}}
{{:type :ok, :f :read, :value [1 nil], :process 1}}
{{:type :invoke, :f :read, :value [1 nil], :process 1}}
{{:type :ok, :f :read, :value [1 1], :process 1}}"
    ));
}

// ---- several keys ----------------------------------------------------------------------

#[test]
fn only_the_bad_key_is_reported() {
    let reports = check(
        r#"
{:type :invoke, :f :write, :value [1 10], :process 0}
{:type :invoke, :f :write, :value ["b" "x"], :process 1}
{:type :ok, :f :write, :value [1 10], :process 0}
{:type :ok, :f :write, :value ["b" "x"], :process 1}
{:type :invoke, :f :read, :value [1 nil], :process 0}
{:type :invoke, :f :read, :value ["b" nil], :process 1}
{:type :ok, :f :read, :value [1 10], :process 0}
{:type :ok, :f :read, :value ["b" nil], :process 1}
{:type :invoke, :f :write, :value [3 nil], :process 2}
{:type :ok, :f :write, :value [3 nil], :process 2}"#,
    );
    let summary: Vec<(Key, bool)> = reports
        .iter()
        .map(|r| (r.key.clone(), r.verdict == Verdict::Linearizable))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Key::Named(Datum::Int(1)), true),
            (Key::Named(Datum::Int(3)), true),
            (Key::Named(Datum::Str("b".into())), false),
        ]
    );
    assert_eq!(reports[2].operations, 2);
    let text = reports[2].to_string();
    assert!(
        text.starts_with("key \"b\": linearizable: false\n"),
        "{text}"
    );
    assert_eq!(reports[0].to_string(), "key 1: linearizable: true");
}

// ---- timeout ---------------------------------------------------------------------------

#[test]
fn a_hard_history_times_out_as_unknown() {
    // Thirty overlapping writes, then two reads of different values after all of them ended.
    // Refuting it means trying every subset of the writes in every order that ends with a
    // different last write, far beyond the timeout.
    let writers = 30;
    let mut history = String::new();
    for p in 0..writers {
        history.push_str(&format!(
            "{{:type :invoke, :f :write, :value {p}, :process {p}}}\n"
        ));
    }
    for p in 0..writers {
        history.push_str(&format!(
            "{{:type :ok, :f :write, :value {p}, :process {p}}}\n"
        ));
    }
    for value in [5, 7] {
        history.push_str(&format!(
            "{{:type :invoke, :f :read, :value nil, :process {writers}}}\n\
             {{:type :ok, :f :read, :value {value}, :process {writers}}}\n"
        ));
    }
    let ops = pair_operations(&parse_events(&history).unwrap()).unwrap();
    let options = CheckOptions {
        timeout: Some(Duration::from_millis(200)),
        ..CheckOptions::default()
    };
    let reports = check_operations(&ops, &options);
    assert!(
        matches!(reports[0].verdict, Verdict::Unknown(_)),
        "{:?}",
        reports[0].verdict
    );
    assert!(reports[0].to_string().contains("unknown (timed out"));
}
