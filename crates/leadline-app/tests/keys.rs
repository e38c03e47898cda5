//! API keys: a created secret authenticates; revoked, expired and unknown ones do not; only a
//! hash of the secret is stored.

#[macro_use]
mod common;

use common::*;
use jiff::SignedDuration;
use leadline_app::keys::{self, KeyRequest};
use leadline_app::AppError;
use leadline_core::access::Role;
use leadline_store::{Exec, Sql, SqlArg};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

conformance! {
    async fn a_created_secret_authenticates_as_its_role(app) {
        let seed = seed(&app).await;
        let requests = [
            (key_request("admin"), Role::Admin),
            (KeyRequest { buyer_id: Some(seed.buyer), ..key_request("buyer") }, Role::Buyer { buyer_id: seed.buyer }),
            (
                KeyRequest { campaign_ids: vec![seed.campaign, seed.other_campaign], ..key_request("dialer") },
                Role::Dialer { campaign_ids: vec![seed.campaign, seed.other_campaign] },
            ),
            (key_request("archiver"), Role::Archiver),
            (KeyRequest { name: Some("reports".into()), ..key_request("readonly") }, Role::ReadOnly),
        ];
        let mut secrets = Vec::new();
        for (request, role) in requests {
            let created = keys::create(&app, &admin(), &request).await.unwrap();
            assert!(created.secret.starts_with(keys::KEY_PREFIX) && created.secret.len() <= 50, "{}", created.secret);
            assert!(created.secret.starts_with(&created.key.prefix));
            assert_eq!(created.key.role, role.name());
            let principal = keys::authenticate(&app, &created.secret).await.unwrap();
            assert_eq!(principal.key_id, Some(created.key.id));
            assert_eq!(principal.role, role);
            secrets.push(created.secret);
        }
        secrets.dedup();
        assert_eq!(secrets.len(), 5);

        let listed = keys::list(&app, &admin()).await.unwrap();
        assert_eq!(listed.len(), 5);
        assert_eq!(listed[4].name, "reports");
        assert_eq!(listed[2].campaign_ids, vec![seed.campaign, seed.other_campaign]);
        assert_eq!(listed[1].buyer_id, Some(seed.buyer));
        assert!(keys::any_exist(&app).await.unwrap());
    }

    async fn a_key_request_with_a_missing_scope_names_the_field(app) {
        let seed = seed(&app).await;
        assert_eq!(invalid(keys::create(&app, &admin(), &key_request("buyer")).await).field, "buyer_id");
        let missing_buyer = KeyRequest { buyer_id: Some(seed.buyer + 100), ..key_request("buyer") };
        assert_eq!(invalid(keys::create(&app, &admin(), &missing_buyer).await).field, "buyer_id");
        let missing_campaign = KeyRequest { campaign_ids: vec![seed.campaign, 999], ..key_request("dialer") };
        assert_eq!(invalid(keys::create(&app, &admin(), &missing_campaign).await).field, "campaign_ids[1]");
        assert_eq!(invalid(keys::create(&app, &admin(), &key_request("root")).await).field, "role");
        let bad_lifetime = KeyRequest { expires_in: Some("soon".into()), ..key_request("admin") };
        assert_eq!(invalid(keys::create(&app, &admin(), &bad_lifetime).await).field, "expires_in");
        assert!(!keys::any_exist(&app).await.unwrap(), "refused requests create no key");
    }

    async fn a_revoked_key_is_refused(app) {
        let created = keys::create(&app, &admin(), &key_request("admin")).await.unwrap();
        let other = keys::create(&app, &admin(), &key_request("readonly")).await.unwrap();
        // Found live first, so the node remembers it; the revocation must still count at once.
        assert!(keys::authenticate(&app, &created.secret).await.is_ok());
        let revoked = keys::revoke(&app, &admin(), created.key.id).await.unwrap();
        assert!(revoked.revoked_at.is_some());
        let message = unauthorized(keys::authenticate(&app, &created.secret).await);
        assert!(message.contains("revoked"), "{message}");
        assert!(keys::authenticate(&app, &other.secret).await.is_ok(), "other keys still work");
        // Revoking again keeps the first revocation time.
        assert_eq!(keys::revoke(&app, &admin(), created.key.id).await.unwrap().revoked_at, revoked.revoked_at);
        not_found(keys::revoke(&app, &admin(), other.key.id + 100).await);
    }

    async fn a_key_revoked_on_another_node_is_refused_here_within_a_second(app) {
        let created = keys::create(&app, &admin(), &key_request("admin")).await.unwrap();
        let other_node = leadline_app::App::new(app.store.clone());
        assert!(keys::authenticate(&app, &created.secret).await.is_ok());
        let found_live = Instant::now();
        keys::revoke(&other_node, &admin(), created.key.id).await.unwrap();
        let message = unauthorized(keys::authenticate(&other_node, &created.secret).await);
        assert!(message.contains("revoked"), "the revoking node refuses at once: {message}");
        // This node trusts the key it found live a moment ago, without reading it again...
        let trusted = keys::authenticate(&app, &created.secret).await;
        if found_live.elapsed() < Duration::from_millis(900) {
            assert!(trusted.is_ok(), "{trusted:?}");
        }
        // ...for a second at most.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let message = unauthorized(keys::authenticate(&app, &created.secret).await);
        assert!(message.contains("revoked"), "{message}");
    }

    async fn an_expired_key_is_refused_once_its_lifetime_has_passed(mut app) {
        let clock = TestClock::at("2026-03-01T12:00:00Z");
        app.clock = clock.clone();
        let request = KeyRequest { expires_in: Some("1h".into()), ..key_request("admin") };
        let created = keys::create(&app, &admin(), &request).await.unwrap();
        assert_eq!(created.key.created_at, "2026-03-01T12:00:00Z".parse().unwrap());
        assert_eq!(created.key.expires_at, Some("2026-03-01T13:00:00Z".parse().unwrap()));
        clock.advance(SignedDuration::from_mins(59));
        assert!(keys::authenticate(&app, &created.secret).await.is_ok());
        clock.advance(SignedDuration::from_mins(1));
        let message = unauthorized(keys::authenticate(&app, &created.secret).await);
        assert!(message.contains("expired"), "{message}");
    }

    async fn an_unknown_or_malformed_secret_is_refused(app) {
        let created = keys::create(&app, &admin(), &key_request("admin")).await.unwrap();
        // The secret with its last character changed (to one it is not: a random secret can
        // end in any of them).
        let (head, last) = created.secret.split_at(created.secret.len() - 1);
        let almost = format!("{head}{}", if last == "x" { "y" } else { "x" });
        let too_long = format!("{}{}", created.secret, "x".repeat(20));
        for secret in ["", "ll_unknown", almost.as_str(), too_long.as_str(), created.key.prefix.as_str()] {
            let message = unauthorized(keys::authenticate(&app, secret).await);
            assert_eq!(message, "unknown API key", "{secret:?}");
        }
    }

    async fn only_a_sha256_hash_of_the_secret_is_stored(app) {
        let created = keys::create(&app, &admin(), &key_request("admin")).await.unwrap();
        let digest: String = Sha256::digest(created.secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let mut conn = app.store.read().await.unwrap();
        let (record, stored) = leadline_store::keys::find_by_hash(&mut conn, &digest).await.unwrap().expect("the key is found by its hash");
        assert_eq!(record.id, created.key.id);
        assert_eq!(stored, digest);

        // No text column of the table holds the secret, whole or without its prefix.
        for needle in [created.secret.as_str(), &created.secret[keys::KEY_PREFIX.len()..]] {
            let mut sql = Sql::new("SELECT id FROM api_keys WHERE 1 = 0");
            for column in ["name", "prefix", "secret_hash", "role", "campaign_ids"] {
                sql.push(" OR ").push(column).push(" LIKE ").bind(SqlArg::Text(Some(format!("%{needle}%"))));
            }
            let found = conn.optional_row(&sql).await.unwrap();
            assert!(found.is_none(), "the secret is stored in api_keys");
        }
        // The listing shows the prefix only.
        let listed = keys::list(&app, &admin()).await.unwrap();
        assert_eq!(listed[0].prefix.len(), keys::KEY_PREFIX.len() + 5);
    }

    async fn only_an_admin_manages_keys(app) {
        let readonly = sign_in(&app, key_request("readonly")).await;
        let refused = keys::create(&app, &readonly, &key_request("admin")).await;
        assert!(matches!(refused, Err(AppError::Forbidden(_))), "{refused:?}");
        forbidden(keys::list(&app, &readonly).await);
        forbidden(keys::revoke(&app, &readonly, readonly.key_id.unwrap()).await);
    }
}
