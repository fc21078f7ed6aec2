//! The credential store against a real SQLite file, with time passed in.

use super::*;
use time::macros::datetime;
use time::OffsetDateTime;

const T0: OffsetDateTime = datetime!(2026-12-01 09:00 UTC);
const PW: &str = "a long enough passphrase";

fn store() -> (tempfile::TempDir, AuthStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = AuthStore::open(&dir.path().join("a.db")).unwrap();
    (dir, s)
}

fn later(mins: i64) -> OffsetDateTime {
    T0 + time::Duration::minutes(mins)
}

#[test]
fn a_user_logs_in_only_with_its_password_and_is_locked_after_failures_in_a_row() {
    let (_d, s) = store();
    let card = vec!["card".to_string()];
    s.add_user("qa-li", Role::Reviewer, Some(&card), PW, T0)
        .unwrap();
    assert!(matches!(
        s.add_user("qa-li", Role::Admin, None, PW, T0),
        Err(AuthError::Exists { .. })
    ));
    let p = s.check_login("qa-li", PW).unwrap();
    assert_eq!(
        (p.role, p.queues.as_deref()),
        (Role::Reviewer, Some(&card[..]))
    );
    assert_eq!(s.check_login("nobody", PW), Err(LoginRefusal::Invalid));
    for _ in 0..store::LOCKOUT_AFTER {
        assert_eq!(
            s.check_login("qa-li", "wrong one"),
            Err(LoginRefusal::Invalid)
        );
    }
    // Locked: even the right password is refused until an admin unlocks.
    assert_eq!(s.check_login("qa-li", PW), Err(LoginRefusal::Locked));
    assert!(s.users().unwrap()[0].locked);
    s.unlock_user("qa-li", T0).unwrap();
    assert!(s.check_login("qa-li", PW).is_ok());
}

#[test]
fn a_good_login_resets_the_count_of_failures() {
    let (_d, s) = store();
    s.add_user("sup", Role::Supervisor, None, PW, T0).unwrap();
    for _ in 0..3 {
        for _ in 0..store::LOCKOUT_AFTER - 1 {
            let _ = s.check_login("sup", "wrong one");
        }
        assert!(s.check_login("sup", PW).is_ok());
    }
}

#[test]
fn sessions_expire_and_end_with_logout_disable_and_a_new_password() {
    let (_d, s) = store();
    s.add_user("sup", Role::Supervisor, None, PW, T0).unwrap();
    let ttl = std::time::Duration::from_secs(3600);
    let id = s.create_session("sup", T0, ttl).unwrap();
    assert_eq!(s.session(&id, later(59)).unwrap().unwrap().name, "sup");
    assert_eq!(s.session(&id, later(60)).unwrap(), None);

    let id = s.create_session("sup", T0, ttl).unwrap();
    s.end_session(&id).unwrap();
    assert_eq!(s.session(&id, T0).unwrap(), None);

    let id = s.create_session("sup", T0, ttl).unwrap();
    s.set_password("sup", "another long passphrase", T0)
        .unwrap();
    assert_eq!(s.session(&id, T0).unwrap(), None);
    assert_eq!(s.check_login("sup", PW), Err(LoginRefusal::Invalid));

    let id = s.create_session("sup", T0, ttl).unwrap();
    s.disable_user("sup", T0).unwrap();
    assert_eq!(s.session(&id, T0).unwrap(), None);
    assert_eq!(
        s.check_login("sup", "another long passphrase"),
        Err(LoginRefusal::Disabled)
    );
    assert!(matches!(
        s.disable_user("ghost", T0),
        Err(AuthError::Missing { .. })
    ));
}

#[test]
fn tokens_work_until_revoked_or_expired_and_only_their_digest_is_kept() {
    let (dir, s) = store();
    let forever = s
        .create_token("fork", Role::Ingest, None, None, T0)
        .unwrap();
    let week = s
        .create_token("temp", Role::Reviewer, None, Some(7), T0)
        .unwrap();
    assert_eq!(
        s.token(&forever, later(10)).unwrap().unwrap().role,
        Role::Ingest
    );
    assert!(s.token(&week, later(7 * 1440 - 1)).unwrap().is_some());
    assert!(s.token(&week, later(7 * 1440)).unwrap().is_none());
    assert!(s.token("cw_not-a-token", T0).unwrap().is_none());
    s.revoke_token("fork", T0).unwrap();
    assert!(s.token(&forever, T0).unwrap().is_none());
    assert!(matches!(
        s.revoke_token("fork", T0),
        Err(AuthError::Missing { .. })
    ));
    // The name stays taken, so the audit trail's `fork` always means one token.
    assert!(s
        .create_token("fork", Role::Ingest, None, None, T0)
        .is_err());
    assert!(matches!(
        s.create_token("x", Role::Ingest, None, Some(0), T0),
        Err(AuthError::BadExpiry)
    ));
    assert!(matches!(
        s.create_token("bad name", Role::Ingest, None, None, T0),
        Err(AuthError::BadName(_))
    ));
    let listed = s.tokens().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[0].revoked && listed[1].expires_at.is_some());
    // Neither token is anywhere in the database file.
    drop(s);
    let bytes = std::fs::read(dir.path().join("a.db")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(&forever[3..]) && !text.contains(&week[3..]));
}

#[test]
fn the_first_admin_is_made_once_with_a_private_password_file() {
    let (dir, s) = store();
    let file = ensure_initial_admin(&s, dir.path(), T0).unwrap().unwrap();
    let password = std::fs::read_to_string(&file).unwrap();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        s.check_login("admin", password.trim()).unwrap().role,
        Role::Admin
    );
    assert_eq!(ensure_initial_admin(&s, dir.path(), T0).unwrap(), None);
    // With every admin disabled, the next start makes the way in again.
    s.disable_user("admin", T0).unwrap();
    let again = ensure_initial_admin(&s, dir.path(), T0).unwrap().unwrap();
    let new_password = std::fs::read_to_string(again).unwrap();
    assert_ne!(password, new_password);
    assert!(s.check_login("admin", new_password.trim()).is_ok());
}

#[test]
fn the_audit_trail_pages_newest_first_filters_and_refuses_edits() {
    let (_d, s) = store();
    for i in 0..5 {
        let e = AuditEntry {
            who: format!("u{}", i % 2),
            action: "call.read".into(),
            outcome: "ok".into(),
            call_id: Some(format!("c{i}")),
            ..AuditEntry::default()
        };
        s.audit(&e, later(i)).unwrap();
    }
    let page = s
        .audit_page(&AuditFilter {
            limit: Some(2),
            ..AuditFilter::default()
        })
        .unwrap();
    let ids: Vec<_> = page
        .items
        .iter()
        .map(|r| r.call_id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["c4", "c3"]);
    let next = s
        .audit_page(&AuditFilter {
            limit: Some(2),
            before: page.next_before,
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(next.items[0].call_id.as_deref(), Some("c2"));
    let u1 = s
        .audit_page(&AuditFilter {
            who: Some("u1".into()),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(u1.items.len(), 2);
    assert!(s
        .audit_page(&AuditFilter {
            from: Some("yesterday".into()),
            ..AuditFilter::default()
        })
        .is_err());
    let edited = s.with_db(|db| Ok(db.exec("UPDATE audit SET who = 'someone else'", &[])?));
    assert!(edited.unwrap_err().to_string().contains("append-only"));
    assert_eq!(s.purge_audit(1, later(1440 + 3)).unwrap(), 3);
}
