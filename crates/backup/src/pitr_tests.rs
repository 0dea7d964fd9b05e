use super::*;

const MB16: u64 = DEFAULT_SEGMENT_SIZE;

fn t(s: &str) -> DateTime<Utc> {
    format!("2026-11-21T{s}Z").parse().unwrap()
}

fn base(id: &str, start: u64, stop: u64, at: &str) -> BaseBackupInfo {
    BaseBackupInfo {
        id: id.into(),
        timeline: 1,
        start_segment: start,
        stop_segment: stop,
        segment_size: MB16,
        consistent_at: t(at),
    }
}

fn seg(number: u64, at: &str) -> ArchivedSegment {
    ArchivedSegment {
        timeline: 1,
        number,
        archived_at: t(at),
    }
}

#[test]
fn wal_names_are_recognised_and_nothing_else() {
    assert_eq!(
        parse_wal_name("000000010000000A000000FF"),
        Some(WalName::Segment {
            timeline: 1,
            log: 10,
            seg: 255
        })
    );
    assert_eq!(
        parse_wal_name("00000002.history"),
        Some(WalName::History { timeline: 2 })
    );
    assert_eq!(
        parse_wal_name("000000010000000000000002.00000028.backup"),
        Some(WalName::BackupHistory)
    );
    assert_eq!(
        parse_wal_name("000000010000000000000002.partial"),
        Some(WalName::Partial)
    );
    for bad in [
        "",
        "00000001000000000000000",
        "0000000100000000000000021",
        "000000010000000000000002a",
        "00000001000000000000000a",
        "../../etc/passwd",
        ".000000010000000000000002.tmp",
        "000000010000000000000002.tmp",
        "0000000g.history",
        "000000010000000000000002.0000028.backup",
        "00000001/0000000000000002",
        "ééééééééééééééééééééééé",
    ] {
        assert_eq!(parse_wal_name(bad), None, "{bad:?}");
    }
}

#[test]
fn segment_numbers_and_names_round_trip() {
    assert_eq!(segments_per_log(MB16), 256);
    assert_eq!(segments_per_log(64 * 1024 * 1024), 64);
    assert_eq!(segment_number(0, 2, MB16), 2);
    assert_eq!(segment_number(1, 0, MB16), 256);
    assert_eq!(segment_name(1, 256, MB16), "000000010000000100000000");
    assert_eq!(segment_name(3, 255, MB16), "0000000300000000000000FF");
    for n in [0u64, 1, 255, 256, 257, 100_000] {
        let name = segment_name(1, n, MB16);
        let Some(WalName::Segment { log, seg, .. }) = parse_wal_name(&name) else {
            panic!("{name}")
        };
        assert_eq!(segment_number(log, seg, MB16), n);
    }
}

#[test]
fn lsns_are_read_and_placed_in_segments() {
    assert_eq!(parse_lsn("0/2000028"), Some(0x2000028));
    assert_eq!(parse_lsn("1/0"), Some(1 << 32));
    assert_eq!(parse_lsn("16/B374D848"), Some((0x16 << 32) | 0xB374D848));
    assert_eq!(parse_lsn("nope"), None);
    assert_eq!(parse_lsn("0/"), None);
    assert_eq!(parse_lsn("100000000/0"), None);
    assert_eq!(lsn_segment(0x2000028, MB16), 2);
    assert_eq!(lsn_segment(1 << 32, MB16), 256);
    assert_eq!(lsn_segment(0x1FFFFFF, MB16), 1);
}

#[test]
fn backup_history_files_give_the_start_and_end_points() {
    let text = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
        STOP WAL LOCATION: 0/2000138 (file 000000010000000000000002)\n\
        CHECKPOINT LOCATION: 0/2000060\n\
        BACKUP METHOD: streamed\n\
        BACKUP FROM: primary\n\
        START TIME: 2026-11-21 10:00:00 UTC\n\
        LABEL: slipway 20261121T100000Z-0000abcd\n\
        START TIMELINE: 1\n\
        STOP TIME: 2026-11-21 10:00:01 UTC\n\
        STOP TIMELINE: 1\n";
    assert_eq!(
        parse_backup_history(text),
        Some(BaseBackupPoints {
            start_lsn: 0x2000028,
            timeline: 1,
            stop_lsn: 0x2000138,
            label: "slipway 20261121T100000Z-0000abcd".into(),
        })
    );
    let no_stop: String = text
        .lines()
        .filter(|l| !l.starts_with("STOP WAL"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(parse_backup_history(&no_stop), None);
    let backwards = text.replace(
        "STOP WAL LOCATION: 0/2000138",
        "STOP WAL LOCATION: 0/1000000",
    );
    assert_eq!(parse_backup_history(&backwards), None, "end before start");
    assert_eq!(parse_backup_history("garbage"), None);
}

#[test]
fn the_window_runs_from_the_oldest_base_backup_to_the_last_gap_free_segment() {
    let bases = [base("a", 2, 2, "10:00:00")];
    let wal = [seg(2, "09:59:59"), seg(3, "10:05:00"), seg(4, "10:20:00")];
    assert_eq!(
        recovery_windows(&bases, &wal),
        [Interval {
            from: t("10:00:00"),
            to: t("10:20:00")
        }]
    );
}

#[test]
fn a_base_backup_without_the_wal_that_makes_it_consistent_opens_no_window() {
    let bases = [base("a", 2, 3, "10:00:00")];
    assert!(recovery_windows(&bases, &[seg(2, "09:59:00")]).is_empty());
    assert!(recovery_windows(&bases, &[seg(3, "10:00:00")]).is_empty());
    assert!(recovery_windows(&[], &[seg(3, "10:00:00")]).is_empty());
    assert_eq!(
        plan_recovery(&bases, &[], t("10:00:00"), Duration::zero()),
        Err(PitrError::NoWindow)
    );
}

#[test]
fn a_gap_in_the_wal_splits_the_window_and_later_base_backups_bridge_it() {
    let bases = [base("a", 2, 2, "10:00:00"), base("b", 6, 6, "12:00:00")];
    // segment 4 lost
    let wal = [
        seg(2, "10:00:00"),
        seg(3, "10:30:00"),
        seg(5, "11:30:00"),
        seg(6, "12:00:00"),
        seg(7, "13:00:00"),
    ];
    let windows = recovery_windows(&bases, &wal);
    assert_eq!(
        windows,
        [
            Interval {
                from: t("10:00:00"),
                to: t("10:30:00")
            },
            Interval {
                from: t("12:00:00"),
                to: t("13:00:00")
            }
        ]
    );
    let err = plan_recovery(&bases, &wal, t("11:00:00"), Duration::zero()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("2026-11-21T11:00:00Z is outside"), "{text}");
    assert!(
        text.contains("2026-11-21T10:00:00Z to 2026-11-21T10:30:00Z, or from 2026-11-21T12:00:00Z to 2026-11-21T13:00:00Z"),
        "{text}"
    );
    assert!(text.contains("WAL is missing"), "{text}");
}

#[test]
fn overlapping_intervals_merge() {
    let bases = [base("a", 2, 2, "10:00:00"), base("b", 4, 4, "11:00:00")];
    let wal = [
        seg(2, "10:00:00"),
        seg(3, "10:30:00"),
        seg(4, "11:00:00"),
        seg(5, "12:00:00"),
    ];
    assert_eq!(
        recovery_windows(&bases, &wal),
        [Interval {
            from: t("10:00:00"),
            to: t("12:00:00")
        }]
    );
}

#[test]
fn the_plan_takes_the_newest_base_backup_before_the_target() {
    let bases = [base("a", 2, 2, "10:00:00"), base("b", 4, 4, "11:00:00")];
    let wal = [
        seg(2, "10:00:00"),
        seg(3, "10:30:00"),
        seg(4, "11:00:00"),
        seg(5, "11:30:00"),
        seg(6, "12:00:00"),
    ];
    let plan = plan_recovery(&bases, &wal, t("11:10:00"), Duration::zero()).unwrap();
    assert_eq!(plan.base, "b");
    assert_eq!(
        plan.segments,
        [4, 5],
        "through the first archived after the target"
    );
    assert_eq!(plan.all_segments, [4, 5, 6]);
    let plan = plan_recovery(&bases, &wal, t("10:59:59"), Duration::zero()).unwrap();
    assert_eq!(plan.base, "a", "b is not consistent yet");
    assert_eq!(plan.segments, [2, 3, 4]);
    let plan = plan_recovery(&bases, &wal, t("11:10:00"), Duration::minutes(30)).unwrap();
    assert_eq!(plan.segments, [4, 5, 6], "the margin reaches further");
    let plan = plan_recovery(&bases, &wal, t("11:10:00"), Duration::hours(5)).unwrap();
    assert_eq!(plan.segments, [4, 5, 6], "never past the run");
}

#[test]
fn the_ends_of_the_window_are_included_and_beyond_them_is_refused() {
    let bases = [base("a", 2, 2, "10:00:00")];
    let wal = [seg(2, "10:00:00"), seg(3, "10:30:00")];
    assert!(plan_recovery(&bases, &wal, t("10:00:00"), Duration::zero()).is_ok());
    assert!(plan_recovery(&bases, &wal, t("10:30:00"), Duration::zero()).is_ok());
    for outside in ["09:59:59", "10:30:01"] {
        let err = plan_recovery(&bases, &wal, t(outside), Duration::zero()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "2026-11-21T{outside}Z is outside the point-in-time recovery window: recovery is \
                 possible from 2026-11-21T10:00:00Z to 2026-11-21T10:30:00Z; choose a time in it"
            )
        );
    }
}

#[test]
fn other_timelines_do_not_continue_a_run() {
    let bases = [base("a", 2, 2, "10:00:00")];
    let mut other = seg(3, "11:00:00");
    other.timeline = 2;
    let wal = [seg(2, "10:00:00"), other];
    assert_eq!(
        recovery_windows(&bases, &wal),
        [Interval {
            from: t("10:00:00"),
            to: t("10:00:00")
        }]
    );
}

#[test]
fn prune_keeps_the_wal_of_the_oldest_base_backup_and_history_files() {
    let now = t("12:00:00");
    let wal: Vec<(String, DateTime<Utc>)> = [
        ("000000010000000000000001", "08:00:00"),
        ("000000010000000000000002", "09:00:00"),
        ("000000010000000000000002.00000028.backup", "09:00:00"),
        ("000000010000000000000003", "10:00:00"),
        ("00000002.history", "08:00:00"),
        ("000000010000000100000000", "11:00:00"),
    ]
    .iter()
    .map(|(n, at)| (n.to_string(), t(at)))
    .collect();
    let bases = [base("a", 3, 3, "10:00:00"), base("b", 256, 256, "11:00:00")];
    assert_eq!(
        wal_to_prune(&wal, &bases, now, Duration::hours(24)),
        [
            "000000010000000000000001",
            "000000010000000000000002",
            "000000010000000000000002.00000028.backup"
        ]
    );
    assert!(
        wal_to_prune(&wal, &[], now, Duration::hours(24)).is_empty(),
        "without a base backup, recent WAL stays"
    );
    assert_eq!(
        wal_to_prune(&wal, &[], now, Duration::minutes(150)),
        [
            "000000010000000000000001",
            "000000010000000000000002",
            "000000010000000000000002.00000028.backup"
        ]
    );
}

#[test]
fn prune_keeps_base_backups_of_the_window_and_the_one_opening_it() {
    let bases = [
        base("a", 1, 1, "01:00:00"),
        base("b", 2, 2, "02:00:00"),
        base("c", 3, 3, "03:00:00"),
        base("d", 4, 4, "05:00:00"),
    ];
    let now = t("06:00:00");
    assert_eq!(
        base_backups_to_prune(&bases, now, Duration::hours(2)),
        ["a", "b"],
        "c opens the window at 04:00"
    );
    assert!(base_backups_to_prune(&bases, now, Duration::hours(6)).is_empty());
    assert_eq!(
        base_backups_to_prune(&bases, t("23:00:00"), Duration::hours(1)),
        ["a", "b", "c"],
        "the newest stays even when old"
    );
    assert!(base_backups_to_prune(&[], now, Duration::hours(1)).is_empty());
}
