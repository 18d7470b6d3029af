//! A training's checkpoints: one after every epoch but the last; a training resumed from one
//! reports the epochs after it and ends as the uninterrupted one; one that does not decode is
//! refused before any epoch and the training starts from scratch.

use super::*;
use hypersearch_proto::Metrics;

const BASE: &str = "[data]\nsource = \"digits\"\n[network]\nhidden = [16]\nbatch_norm = true\n\
                    [training]\nepochs = 4\nseed = 3\n";

/// The epochs, checkpoints, refusals and final metrics (timing aside) of one training.
#[derive(Default)]
struct Seen {
    epochs: Vec<u32>,
    checkpoints: Vec<(u32, Vec<u8>)>,
    refused: Vec<String>,
    last: Metrics,
}

async fn run(resume: Option<ResumeFrom>) -> Seen {
    let options = Options {
        keep_model: false,
        checkpoints: Some(crate::checkpoints::Pace::unpaced()),
        resume,
    };
    let mut received = started_with(BASE, serde_json::json!({}), options);
    let mut seen = Seen::default();
    loop {
        match received.recv().await.unwrap() {
            Event::Epoch { epoch, .. } => seen.epochs.push(epoch),
            Event::Checkpoint { epoch, bytes } => seen.checkpoints.push((epoch, bytes)),
            Event::CheckpointRefused(reason) => seen.refused.push(reason),
            Event::Model(_) => panic!("no model was asked for"),
            Event::Done(Outcome::Finished(mut last)) => {
                last.retain(|name, _| name != "seconds" && name != "inference_ms");
                seen.last = last;
                return seen;
            }
            Event::Done(outcome) => panic!("{outcome:?}"),
        }
    }
}

#[tokio::test]
async fn a_training_resumed_from_its_checkpoint_ends_as_the_uninterrupted_one() {
    let whole = run(None).await;
    assert_eq!(whole.epochs, vec![1, 2, 3, 4]);
    let epochs: Vec<u32> = whole.checkpoints.iter().map(|(e, _)| *e).collect();
    assert_eq!(epochs, vec![1, 2, 3], "none after the last epoch");

    let bytes = whole.checkpoints[1].1.clone();
    let resumed = run(Some(ResumeFrom { epoch: 2, bytes })).await;
    assert_eq!(resumed.epochs, vec![3, 4]);
    assert!(resumed.refused.is_empty(), "{:?}", resumed.refused);
    assert_eq!(resumed.last, whole.last);
}

#[tokio::test]
async fn a_checkpoint_that_does_not_decode_or_is_another_epochs_is_refused_first() {
    let damaged = ResumeFrom {
        epoch: 2,
        bytes: b"HSCKPT\0\0 truncated".to_vec(),
    };
    let seen = run(Some(damaged)).await;
    assert_eq!(seen.refused.len(), 1);
    assert!(
        seen.refused[0].contains("does not decode"),
        "{:?}",
        seen.refused
    );
    assert_eq!(seen.epochs, vec![1, 2, 3, 4], "from scratch");

    let whole = run(None).await;
    let misnamed = ResumeFrom {
        epoch: 1,
        bytes: whole.checkpoints[2].1.clone(),
    };
    let seen = run(Some(misnamed)).await;
    assert!(
        seen.refused[0].contains("holds 3 epochs"),
        "{:?}",
        seen.refused
    );
    assert_eq!(seen.epochs, vec![1, 2, 3, 4]);
    assert_eq!(seen.last, whole.last);
}
