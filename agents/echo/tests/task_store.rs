//! The Postgres TaskStore against a real Postgres server.

use a2a::{
    ListTasksRequest, Message, Part, Role, Task, TaskPushNotificationConfig, TaskState, TaskStatus,
    error_code,
};
use mlops_agent_kit::a2a_server::{PushConfigStore, TaskStore};
use mlops_agent_kit::{PgPushConfigStore, PgTaskStore};
use mlops_postgres::test_support::fresh_database;

fn list_request() -> ListTasksRequest {
    ListTasksRequest {
        context_id: None,
        status: None,
        page_size: None,
        page_token: None,
        history_length: None,
        status_timestamp_after: None,
        include_artifacts: None,
        tenant: None,
    }
}

fn task(id: &str, context: &str, state: TaskState, seconds: i64, message_id: &str) -> Task {
    let mut message = Message::new(Role::User, vec![Part::text("hi")]);
    message.message_id = message_id.to_owned();
    Task {
        id: id.to_owned(),
        context_id: context.to_owned(),
        status: TaskStatus {
            state,
            message: None,
            timestamp: chrono::DateTime::from_timestamp(1_800_000_000 + seconds, 0),
        },
        artifacts: None,
        history: Some(vec![message]),
        metadata: None,
    }
}

#[tokio::test]
async fn create_update_and_get() {
    let db = fresh_database().await;
    let store = PgTaskStore::new(db.pool.clone(), "echo");
    assert_eq!(
        store
            .create(task("t1", "c1", TaskState::Submitted, 0, "m1"))
            .await
            .unwrap(),
        1
    );

    let mut working = store.get("t1").await.unwrap().unwrap();
    working.status.state = TaskState::Working;
    assert_eq!(store.update(working).await.unwrap(), 2);
    let got = store.get("t1").await.unwrap().unwrap();
    assert_eq!(got.status.state, TaskState::Working);
    assert_eq!(got.history.unwrap()[0].message_id, "m1");

    // Another agent's store sees nothing of echo's tasks.
    let other = PgTaskStore::new(db.pool.clone(), "other");
    assert!(other.get("t1").await.unwrap().is_none());

    // Terminal states stick.
    let mut done = store.get("t1").await.unwrap().unwrap();
    done.status.state = TaskState::Completed;
    store.update(done.clone()).await.unwrap();
    done.status.state = TaskState::Working;
    let err = store.update(done).await.unwrap_err();
    assert_eq!(err.code, error_code::INVALID_REQUEST);

    // Updating a task that does not exist is TASK_NOT_FOUND.
    let err = store
        .update(task("nope", "c1", TaskState::Working, 0, "m9"))
        .await
        .unwrap_err();
    assert_eq!(err.code, error_code::TASK_NOT_FOUND);
}

#[tokio::test]
async fn list_pages_through_every_task_once() {
    let db = fresh_database().await;
    let store = PgTaskStore::new(db.pool.clone(), "echo");
    for i in 0..7 {
        let context = if i % 2 == 0 { "even" } else { "odd" };
        store
            .create(task(
                &format!("t{i}"),
                context,
                TaskState::Submitted,
                i,
                &format!("m{i}"),
            ))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = store
            .list(&ListTasksRequest {
                page_size: Some(3),
                page_token: token.clone(),
                ..list_request()
            })
            .await
            .unwrap();
        assert_eq!(page.total_size, 7);
        assert!(page.tasks.len() <= 3);
        seen.extend(page.tasks.iter().map(|t| t.id.clone()));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = Some(page.next_page_token);
    }
    assert_eq!(pages, 3);
    // Newest first, each exactly once.
    assert_eq!(seen, ["t6", "t5", "t4", "t3", "t2", "t1", "t0"]);

    let odd = store
        .list(&ListTasksRequest {
            context_id: Some("odd".into()),
            ..list_request()
        })
        .await
        .unwrap();
    assert_eq!(odd.total_size, 3);
    assert!(odd.tasks.iter().all(|t| t.context_id == "odd"));

    let bad = store
        .list(&ListTasksRequest {
            page_token: Some("garbage!".into()),
            ..list_request()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code, error_code::INVALID_PARAMS);
}

#[tokio::test]
async fn exactly_one_of_two_concurrent_cancels_wins() {
    let db = fresh_database().await;
    let store = PgTaskStore::new(db.pool.clone(), "echo");
    for round in 0..10 {
        let id = format!("t{round}");
        store
            .create(task(&id, "c", TaskState::Working, 0, &format!("m{round}")))
            .await
            .unwrap();
        let (a, b) = tokio::join!(store.begin_cancel(&id), store.begin_cancel(&id));
        let wins = [&a, &b].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {a:?} / {b:?}");
        let loser = if a.is_ok() { b } else { a };
        assert_eq!(loser.unwrap_err().code, error_code::TASK_NOT_CANCELABLE);
        assert_eq!(
            store.get(&id).await.unwrap().unwrap().status.state,
            TaskState::Canceled
        );
    }
    let missing = store.begin_cancel("nope").await.unwrap_err();
    assert_eq!(missing.code, error_code::TASK_NOT_FOUND);
}

#[tokio::test]
async fn a_repeated_message_id_is_rejected() {
    let db = fresh_database().await;
    let store = PgTaskStore::new(db.pool.clone(), "echo");
    store
        .create(task("t1", "c", TaskState::Submitted, 0, "same-id"))
        .await
        .unwrap();
    let err = store
        .create(task("t2", "c", TaskState::Submitted, 1, "same-id"))
        .await
        .unwrap_err();
    assert_eq!(err.code, error_code::INVALID_PARAMS);
    assert!(
        err.message.contains("same-id") && err.message.contains("t1"),
        "{}",
        err.message
    );
    // Nothing of the refused task was written.
    assert!(store.get("t2").await.unwrap().is_none());

    // A continuation turn may not reuse an id another task used either.
    let mut resumed = store.get("t1").await.unwrap().unwrap();
    let mut again = Message::new(Role::User, vec![Part::text("again")]);
    again.message_id = "same-id".into();
    store
        .create(task("t3", "c", TaskState::InputRequired, 2, "other-id"))
        .await
        .unwrap();
    let mut t3 = store.get("t3").await.unwrap().unwrap();
    t3.history.as_mut().unwrap().push(again);
    assert_eq!(
        store.update(t3).await.unwrap_err().code,
        error_code::INVALID_PARAMS
    );
    // Re-saving a task with its own history is fine.
    resumed.status.state = TaskState::Working;
    store.update(resumed).await.unwrap();

    // The same id at another agent is that agent's business.
    let other = PgTaskStore::new(db.pool.clone(), "other");
    other
        .create(task("t1", "c", TaskState::Submitted, 0, "same-id"))
        .await
        .unwrap();
}

#[tokio::test]
async fn push_configs_are_kept_per_task() {
    let db = fresh_database().await;
    let store = PgPushConfigStore::new(db.pool.clone(), "echo");
    let config: TaskPushNotificationConfig = serde_json::from_value(serde_json::json!({
        "taskId": "t1",
        "url": "https://hooks.example/a2a"
    }))
    .unwrap();
    let saved = store.save(config).await.unwrap();
    let id = saved.id.clone().expect("an id is assigned");
    assert_eq!(
        store.get("t1", &id).await.unwrap().url,
        "https://hooks.example/a2a"
    );
    assert_eq!(store.list("t1").await.unwrap().len(), 1);
    assert!(store.list("t2").await.unwrap().is_empty());
    store.delete("t1", &id).await.unwrap();
    assert_eq!(
        store.get("t1", &id).await.unwrap_err().code,
        error_code::TASK_NOT_FOUND
    );
}
