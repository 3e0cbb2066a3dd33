use tessera_store::dpop_proofs;

use tessera_testkit::NOW;

crate::both_backends! {
    fn a_dpop_proof_is_recorded_once(store: Store) {
        assert!(store.write_statement(|c| dpop_proofs::record(c, "proof-1", NOW + 60)).unwrap());
        assert!(!store.write_statement(|c| dpop_proofs::record(c, "proof-1", NOW + 60)).unwrap());
        // Inside a transaction too, and a replay leaves the transaction usable.
        store
            .write_transaction(|c| {
                assert!(!dpop_proofs::record(c, "proof-1", NOW + 90)?);
                assert!(dpop_proofs::record(c, "proof-2", NOW + 90)?);
                Ok(())
            })
            .unwrap();
    }

    fn of_parallel_recordings_of_one_proof_exactly_one_wins(store: Store) {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || store.write_statement(|c| dpop_proofs::record(c, "raced", NOW + 60)).unwrap())
            })
            .collect();
        let wins = handles.into_iter().map(|h| h.join().unwrap()).filter(|won| *won).count();
        assert_eq!(wins, 1);
    }
}
