//! Users and API tokens on a real PostgreSQL.

use slipway_platform::people::{NewUser, People};
use slipway_platform::Metadata;
use slipway_testkit::TestDb;

async fn last_used(pool: &sqlx::PgPool, user: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    sqlx::query_scalar("SELECT last_used_at FROM api_tokens WHERE user_id = $1")
        .bind(user)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_authenticates_its_user_and_its_use_is_stamped_once_a_minute() {
    let db = TestDb::new().await;
    let meta = Metadata::open_url(db.url()).await.unwrap();
    let people = People::new(meta.pool().clone());
    let new = NewUser {
        login: "ana".into(),
        name: "Ana".into(),
        email: None,
        is_admin: false,
    };
    let (user, token) = people.create(&new).await.unwrap();
    assert_eq!(last_used(meta.pool(), user.id).await, None);

    let found = people.authenticate(&token).await.unwrap().unwrap();
    assert_eq!(found.login, "ana");
    let first = last_used(meta.pool(), user.id).await.expect("stamped");
    people.authenticate(&token).await.unwrap().unwrap();
    assert_eq!(
        last_used(meta.pool(), user.id).await,
        Some(first),
        "not rewritten within a minute"
    );

    sqlx::query("UPDATE api_tokens SET last_used_at = now() - interval '2 minutes'")
        .execute(meta.pool())
        .await
        .unwrap();
    people.authenticate(&token).await.unwrap().unwrap();
    assert!(last_used(meta.pool(), user.id).await.unwrap() > first);

    assert!(people
        .authenticate("slw_not-a-token")
        .await
        .unwrap()
        .is_none());
    sqlx::query("UPDATE api_tokens SET revoked_at = now()")
        .execute(meta.pool())
        .await
        .unwrap();
    assert!(
        people.authenticate(&token).await.unwrap().is_none(),
        "revoked"
    );
}
