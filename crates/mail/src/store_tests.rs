//! The store on a real folder.

use super::*;

fn mail(subject: &str) -> Vec<u8> {
    format!("From: a@example.com\r\nTo: b@example.com\r\nSubject: {subject}\r\n\r\nbody\r\n")
        .into_bytes()
}

fn to() -> Vec<String> {
    vec!["b@example.com".into()]
}

#[test]
fn stored_mails_are_listed_newest_first_and_read_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let store = MailStore::new(dir.path());
    let first = store
        .store(3, "a@example.com", &to(), &mail("one"))
        .unwrap();
    let second = store
        .store(3, "a@example.com", &to(), &mail("two"))
        .unwrap();
    assert_eq!((first.seq, second.seq), (1, 2));

    let listed = store.list(3).unwrap();
    let subjects: Vec<_> = listed
        .iter()
        .map(|m| m.subject.as_deref().unwrap())
        .collect();
    assert_eq!(subjects, ["two", "one"]);
    assert_eq!(listed[1], first);
    assert_eq!(store.raw(3, 1).unwrap(), mail("one"));
    assert_eq!(store.get(3, 2).unwrap().summary, second);
    assert!(dir.path().join("3/1.eml").is_file() && dir.path().join("3/1.json").is_file());
}

#[test]
fn builds_do_not_see_each_others_mails() {
    let dir = tempfile::tempdir().unwrap();
    let store = MailStore::new(dir.path());
    store
        .store(1, "a@example.com", &to(), &mail("one"))
        .unwrap();
    assert!(store.list(2).unwrap().is_empty());
    assert!(matches!(
        store.raw(2, 1),
        Err(MailError::NotFound {
            build_id: 2,
            seq: 1
        })
    ));
}

#[test]
fn an_unknown_number_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = MailStore::new(dir.path());
    store
        .store(1, "a@example.com", &to(), &mail("one"))
        .unwrap();
    assert!(matches!(store.get(1, 9), Err(MailError::NotFound { .. })));
    // An .eml without its summary is not a message yet.
    std::fs::write(dir.path().join("1/5.eml"), b"half").unwrap();
    assert!(matches!(store.raw(1, 5), Err(MailError::NotFound { .. })));
    assert_eq!(store.list(1).unwrap().len(), 1);
}

#[test]
fn the_cap_drops_the_oldest_and_numbers_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let store = MailStore::new(dir.path()).with_cap(2);
    for n in 1..=4 {
        store
            .store(1, "a@example.com", &to(), &mail(&n.to_string()))
            .unwrap();
    }
    let seqs: Vec<_> = store.list(1).unwrap().iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [4, 3]);
    assert!(!dir.path().join("1/1.eml").exists() && !dir.path().join("1/2.json").exists());
    assert_eq!(store.store(1, "", &to(), &mail("5")).unwrap().seq, 5);
}

#[test]
fn dropping_a_build_removes_its_mails_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = MailStore::new(dir.path());
    store
        .store(1, "a@example.com", &to(), &mail("one"))
        .unwrap();
    store
        .store(2, "a@example.com", &to(), &mail("two"))
        .unwrap();
    store.drop_build(1).unwrap();
    store.drop_build(1).unwrap();
    assert!(store.list(1).unwrap().is_empty());
    assert!(!dir.path().join("1").exists());
    assert_eq!(store.list(2).unwrap().len(), 1);
}

#[test]
fn concurrent_stores_get_distinct_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let store = MailStore::new(dir.path());
    let threads: Vec<_> = (0..8)
        .map(|n| {
            let store = store.clone();
            std::thread::spawn(move || {
                store
                    .store(1, "a@example.com", &to(), &mail(&n.to_string()))
                    .unwrap()
                    .seq
            })
        })
        .collect();
    let mut seqs: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
}

#[test]
fn no_temporary_file_is_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = MailStore::new(dir.path());
    store
        .store(1, "a@example.com", &to(), &mail("one"))
        .unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path().join("1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
#[ignore = "a measurement: cargo test -p slipway-mail --release -- --ignored --nocapture"]
fn measure_store_and_list_of_a_full_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    let store = MailStore::new(dir.path());
    let body = "x".repeat(76);
    let raw = format!("Subject: s\r\n\r\n{}", format!("{body}\r\n").repeat(130)).into_bytes();
    let began = std::time::Instant::now();
    for _ in 0..DEFAULT_CAP {
        store.store(1, "a@example.com", &to(), &raw).unwrap();
    }
    let stored = began.elapsed();
    let began = std::time::Instant::now();
    assert_eq!(store.list(1).unwrap().len(), DEFAULT_CAP);
    let listed = began.elapsed();
    let began = std::time::Instant::now();
    store.store(1, "a@example.com", &to(), &raw).unwrap();
    let at_cap = began.elapsed();
    println!(
        "{} x {} B: store {:?}/mail, list {:?}, store at cap {:?}",
        DEFAULT_CAP,
        raw.len(),
        stored / DEFAULT_CAP as u32,
        listed,
        at_cap
    );
}
