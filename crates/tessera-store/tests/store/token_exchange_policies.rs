use tessera_domain::{ConnectionId, PolicyContext, ScopeSet, TokenExchangePolicyInput, TokenExchangeRuleInput};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::{StoreError, token_exchange_policies};

use tessera_testkit::NOW;

fn connection(name: &str) -> NewApiConnection {
    NewApiConnection {
        name: name.into(),
        display_name: name.into(),
        description: String::new(),
        access_token_format: None,
        resource_uri: None,
        requirement: None,
    }
}

crate::both_backends! {
    fn a_policy_is_stored_with_its_connection_and_replaced_whole(store: Store) {
        let (orders, billing) = store.write_transaction(|c| {
            Ok((connections::create(c, &connection("orders-api"), "h1", NOW)?, connections::create(c, &connection("billing-api"), "h2", NOW)?))
        }).unwrap();
        assert!(billing.token_exchange.is_empty());
        let target = ScopeSet::parse("billing-api").unwrap();
        let policy = TokenExchangePolicyInput {
            rules: vec![TokenExchangeRuleInput {
                client_id: "orders-backend".into(),
                source_audience: orders.name.clone(),
                scopes: vec!["billing-api".into()],
                impersonation: true,
            }],
        }
        .into_policy(&PolicyContext { target_scopes: &target, is_client: &|_| true, is_connection: &|_| true })
        .unwrap();
        let updated = store.write_transaction(|c| token_exchange_policies::replace(c, &billing.id, &policy, NOW + 5)).unwrap();
        assert_eq!(updated.token_exchange, policy);
        assert_eq!(updated.updated_at, NOW + 5);
        // The in-memory configuration carries it.
        let config = store.config().unwrap();
        assert_eq!(config.connection_by_name("billing-api").unwrap().token_exchange, policy);
        let all = store.read_transaction(connections::all).unwrap();
        assert_eq!(token_exchange_policies::naming_client(&all, "orders-backend").len(), 1);
        // Replaced as a whole: an empty list ends every exchange.
        let cleared = store.write_transaction(|c| token_exchange_policies::replace(c, &billing.id, &Default::default(), NOW + 6)).unwrap();
        assert!(cleared.token_exchange.is_empty());
        let missing = store.write_transaction(|c| token_exchange_policies::replace(c, &ConnectionId::from("nope".to_owned()), &policy, NOW));
        assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    }
}
