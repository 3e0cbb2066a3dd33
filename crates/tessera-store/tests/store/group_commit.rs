//! SQLite's group commit: concurrent writes each stay whole or nothing, a failing or
//! panicking write undoes only itself, every acknowledged write is committed, and a
//! write started inside a write is refused at once.

use std::sync::{Arc, Barrier};

use tessera_store::organizations;
use tessera_store::{Page, Store, StoreError};
use tessera_testkit::TestDatabase;

use tessera_testkit::NOW;

fn role_names(store: &Store) -> Vec<String> {
    let mut names: Vec<String> = store
        .read_transaction(|c| organizations::list_roles(c, &Page::first(500)))
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.retain(|n| n != "tessera-admin");
    names.sort();
    names
}

#[test]
fn concurrent_writes_commit_whole_and_failures_undo_only_themselves() {
    let db = TestDatabase::sqlite();
    let store = db.store();
    let threads = 24;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store.write_transaction(|c| {
                    organizations::create_role(c, &format!("role-{i:02}-a"), "", NOW)?;
                    organizations::create_role(c, &format!("role-{i:02}-b"), "", NOW)?;
                    match i % 3 {
                        // A failure after two writes: both are undone, nothing else is.
                        1 => Err(StoreError::invalid("name", "refused on purpose")),
                        // A panic likewise, reported as this write's error.
                        2 => panic!("a write that panics"),
                        _ => Ok(i),
                    }
                })
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (i, result) in results.iter().enumerate() {
        match i % 3 {
            0 => assert_eq!(result.as_ref().ok(), Some(&i), "{result:?}"),
            1 => assert!(matches!(result, Err(StoreError::Invalid { .. })), "{result:?}"),
            _ => assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}"),
        }
    }
    let expected: Vec<String> = (0..threads)
        .filter(|i| i % 3 == 0)
        .flat_map(|i| [format!("role-{i:02}-a"), format!("role-{i:02}-b")])
        .collect();
    assert_eq!(role_names(&store), expected, "every acknowledged write, and nothing of a refused one");
    // What was acknowledged is on disk: a second store on the same file sees it.
    assert_eq!(role_names(&db.store()), expected);
}

#[test]
fn a_unique_conflict_in_one_write_leaves_the_others_of_its_group() {
    let db = TestDatabase::sqlite();
    let store = db.store();
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                // Every thread wants "shared"; only one gets it, and each its own name.
                store.write_transaction(|c| {
                    organizations::create_role(c, &format!("own-{i}"), "", NOW)?;
                    organizations::create_role(c, "shared", "", NOW)
                })
            })
        })
        .collect();
    let ok = handles.into_iter().map(|h| h.join().unwrap()).filter(Result::is_ok).count();
    assert_eq!(ok, 1, "exactly one write took the name");
    let names = role_names(&store);
    assert_eq!(names.iter().filter(|n| n.starts_with("own-")).count(), 1, "{names:?}");
    assert!(names.contains(&"shared".to_owned()));
}

#[test]
fn a_write_inside_a_write_is_refused_at_once() {
    let db = TestDatabase::sqlite();
    let store = db.store();
    let inner = store.clone();
    let outer = store.write_transaction(|c| {
        organizations::create_role(c, "outer", "", NOW)?;
        // SQLite has one writer: a nested write would wait for the write it is inside.
        // It is refused at once, rather than hanging.
        let started = std::time::Instant::now();
        let nested = inner.write_transaction(|c| organizations::create_role(c, "inner", "", NOW));
        Ok((nested.is_err(), started.elapsed() < std::time::Duration::from_secs(1)))
    });
    assert_eq!(outer.ok(), Some((true, true)));
    assert_eq!(role_names(&store), ["outer"]);
}
