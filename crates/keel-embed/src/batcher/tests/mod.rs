//! Batcher behaviour with a fake model whose batches can be held at a gate. The clock is
//! paused: time moves only when a test advances it, and waiting for the batcher's threads
//! spins on `yield_now`, which never lets the paused clock jump.

mod fake;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use self::fake::{Fake, answer, call, config, occupy, queue, start, stats, until, words};
use super::{Batcher, BatcherConfig};
use crate::error::EmbedError;

#[tokio::test(start_paused = true)]
async fn a_lone_caller_is_answered_without_waiting_for_the_deadline() {
    let (b, model) = start(BatcherConfig {
        flush_deadline: Duration::from_secs(3600),
        ..config()
    });
    model.gate.open();
    let t0 = Instant::now();
    let vectors = answer(call(&b, &["hello world", ""])).await.unwrap();
    assert_eq!(vectors, vec![vec![11.0, 4.0], vec![0.0, 2.0]]);
    assert_eq!(Instant::now(), t0, "no time passed");
    let vectors = answer(call(&b, &["again"])).await.unwrap();
    assert_eq!(vectors, vec![vec![5.0, 3.0]]);
    assert_eq!(
        Instant::now(),
        t0,
        "a sequential lone caller does not wait either"
    );
}

#[tokio::test(start_paused = true)]
async fn queued_texts_are_grouped_by_length_under_the_token_budget() {
    let (b, model) = start(config());
    let first = occupy(&b, &model).await;
    let (long1, long2, short) = (words(48), words(47), words(6));
    let order = [&long1, &short, &short, &short, &long2, &short];
    let mut handles = Vec::new();
    for (i, text) in order.iter().enumerate() {
        handles.push(queue(&b, &[text.as_str()], i + 1).await);
    }
    model.gate.open();
    answer(first).await.unwrap();
    for (handle, text) in handles.into_iter().zip(order) {
        let vectors = answer(handle).await.unwrap();
        assert_eq!(
            vectors[0][0],
            text.len() as f32,
            "each caller gets its own vector"
        );
    }
    let batches = model.batches.lock().unwrap().clone();
    let sizes: Vec<Vec<usize>> = batches
        .iter()
        .map(|batch| {
            batch
                .iter()
                .map(|t| t.split_whitespace().count() + 2)
                .collect()
        })
        .collect();
    assert_eq!(sizes, vec![vec![3], vec![50, 49], vec![8, 8, 8, 8]]);
    for batch in &sizes {
        assert!(batch.iter().max().unwrap() * batch.len() <= 120);
    }
}

#[tokio::test(start_paused = true)]
async fn a_deep_queue_is_cut_into_batches_of_the_maximum_size() {
    let (b, model) = start(BatcherConfig {
        max_batch_size: 4,
        ..config()
    });
    let first = occupy(&b, &model).await;
    let mut handles = Vec::new();
    for i in 0..10 {
        handles.push(queue(&b, &["text"], i + 1).await);
    }
    model.gate.open();
    answer(first).await.unwrap();
    until("two full batches", || stats(&b).batches == 3).await;
    // The last batch served four callers; the two left wait for them until the deadline.
    assert_eq!(stats(&b).waiting_texts, 2);
    tokio::time::advance(Duration::from_millis(5)).await;
    for handle in handles {
        answer(handle).await.unwrap();
    }
    let sizes: Vec<usize> = model.batches.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![1, 4, 4, 2]);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_flushes_a_partial_batch_when_more_callers_are_expected() {
    let (b, model) = start(config());
    // A batch that served three callers sets the expectation that three come back.
    let first = occupy(&b, &model).await;
    let trio = [
        queue(&b, &["b"], 1).await,
        queue(&b, &["c"], 2).await,
        queue(&b, &["d"], 3).await,
    ];
    model.gate.release(1);
    until("trio running", || model.started.load(Ordering::SeqCst) == 2).await;
    answer(first).await.unwrap();
    model.gate.open();
    for handle in trio {
        answer(handle).await.unwrap();
    }
    until("trio done", || stats(&b).running_batches == 0).await;
    assert_eq!(stats(&b).batches, 2);

    // Only one comes back: it waits for the deadline, not longer.
    let t0 = Instant::now();
    let lone = queue(&b, &["e"], 1).await;
    for _ in 0..1000 {
        tokio::task::yield_now().await;
    }
    assert_eq!(stats(&b).batches, 2, "the partial batch waits");
    assert_eq!(stats(&b).waiting_texts, 1);
    tokio::time::advance(Duration::from_millis(5)).await;
    answer(lone).await.unwrap();
    assert_eq!(stats(&b).batches, 3);
    assert_eq!(Instant::now() - t0, Duration::from_millis(5));
}

#[tokio::test(start_paused = true)]
async fn a_second_inference_thread_takes_a_partial_batch_at_the_deadline() {
    let (b, model) = start(BatcherConfig {
        inference_threads: 2,
        ..config()
    });
    let first = occupy(&b, &model).await;
    let second = queue(&b, &["second"], 1).await;
    for _ in 0..1000 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        model.started.load(Ordering::SeqCst),
        1,
        "waits to fill a batch"
    );
    tokio::time::advance(Duration::from_millis(5)).await;
    until("second batch running beside the first", || {
        model.started.load(Ordering::SeqCst) == 2
    })
    .await;
    assert_eq!(stats(&b).running_batches, 2);
    model.gate.open();
    answer(first).await.unwrap();
    answer(second).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_answers_overloaded_at_once_and_recovers() {
    let (b, model) = start(BatcherConfig {
        queue_capacity: 4,
        ..config()
    });
    let first = occupy(&b, &model).await;
    let three = queue(&b, &["x", "yy", "zzz"], 3).await;
    assert_eq!(stats(&b).queued_texts, 4);

    let err = b.embed(vec!["a".into()]).await.unwrap_err();
    assert!(
        matches!(err, EmbedError::Overloaded { capacity: 4 }),
        "{err}"
    );
    let err = b.embed(vec!["a".into(); 5]).await.unwrap_err();
    assert!(
        matches!(err, EmbedError::TooManyTexts { got: 5, max: 4 }),
        "{err}"
    );
    let err = b.embed(Vec::new()).await.unwrap_err();
    assert!(matches!(err, EmbedError::EmptyInput), "{err}");

    model.gate.open();
    answer(first).await.unwrap();
    let vectors = answer(three).await.unwrap();
    let lens: Vec<f32> = vectors.iter().map(|v| v[0]).collect();
    assert_eq!(
        lens,
        vec![1.0, 2.0, 3.0],
        "answers keep the request's order"
    );
    until("queue drained", || stats(&b).queued_texts == 0).await;
    assert_eq!(
        answer(call(&b, &["a", "b", "c", "d"])).await.unwrap().len(),
        4
    );
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_gives_up_has_its_texts_skipped() {
    let (b, model) = start(config());
    let first = occupy(&b, &model).await;
    let gone = queue(&b, &["abandoned", "too"], 2).await;
    let kept = queue(&b, &["kept"], 3).await;
    gone.abort();
    until("caller dropped", || gone.is_finished()).await;
    until("its places released", || stats(&b).queued_texts == 2).await;

    model.gate.open();
    answer(first).await.unwrap();
    answer(kept).await.unwrap();
    let s = stats(&b);
    assert_eq!(
        (s.skipped_texts, s.embedded_texts, s.queued_texts),
        (2, 2, 0)
    );
    let batches = model.batches.lock().unwrap().clone();
    assert_eq!(
        batches,
        vec![vec!["first".to_owned()], vec!["kept".to_owned()]]
    );
}

#[tokio::test(start_paused = true)]
async fn without_batching_each_request_runs_alone() {
    let (b, model) = start(BatcherConfig {
        batching: false,
        ..config()
    });
    let first = occupy(&b, &model).await;
    let handles = [
        queue(&b, &["b", "b2"], 2).await,
        queue(&b, &["c"], 3).await,
        queue(&b, &["d"], 4).await,
    ];
    model.gate.open();
    answer(first).await.unwrap();
    for handle in handles {
        answer(handle).await.unwrap();
    }
    let sizes: Vec<usize> = model.batches.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![1, 2, 1, 1]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_or_panicking_batch_errors_its_callers_and_the_batcher_goes_on() {
    let (b, model) = start(config());
    model.gate.open();
    let err = answer(call(&b, &["fail"])).await.unwrap_err();
    assert!(matches!(err, EmbedError::BatchFailed(_)), "{err}");
    assert!(err.to_string().contains("told to fail"), "{err}");
    let err = answer(call(&b, &["panic"])).await.unwrap_err();
    match err {
        EmbedError::BatchFailed(cause) => assert!(matches!(*cause, EmbedError::ModelPanicked)),
        other => panic!("unexpected {other}"),
    }
    assert_eq!(
        answer(call(&b, &["fine"])).await.unwrap(),
        vec![vec![4.0, 3.0]]
    );
}

#[test]
fn a_batcher_needs_a_runtime_and_a_valid_configuration() {
    let model = Arc::new(Fake::default());
    let err = Batcher::new(Arc::clone(&model), config()).unwrap_err();
    assert!(matches!(err, EmbedError::NoRuntime), "{err}");
    let err = Batcher::new(
        model,
        BatcherConfig {
            token_budget: 10,
            ..config()
        },
    )
    .unwrap_err();
    assert!(matches!(err, EmbedError::InvalidConfig { .. }), "{err}");
}
