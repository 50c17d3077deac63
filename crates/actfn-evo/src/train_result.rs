//! [`TrainResult`]: the JSON object `actfn train --json` prints and `--json-out` writes.
//!
//! Defined here, beside [`Summary`](crate::Summary) (the object of `actfn report --json`),
//! so that programs which drive the `actfn` binary (the xtask) read the very types it
//! writes, without linking torch.

use serde::{Deserialize, Serialize};

use crate::record::RecordStatus;

/// The outcome of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    /// Validation accuracy; absent when not finite (a diverged run).
    pub val_acc: Option<f64>,
    /// Validation loss; absent when not finite.
    pub val_loss: Option<f64>,
    /// Test accuracy; absent when no test images were evaluated.
    pub test_acc: Option<f64>,
    /// `ok`, `diverged` or `failed` (a training is never `rejected`).
    pub status: RecordStatus,
    /// Wall time of the training and evaluation, without data preparation.
    pub seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text `actfn train --json` has always printed; xtask and scripts read it.
    #[test]
    fn json_shape_is_stable() {
        let r = TrainResult {
            val_acc: Some(0.5),
            val_loss: None,
            test_acc: Some(0.25),
            status: RecordStatus::Diverged,
            seconds: 1.5,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"val_acc":0.5,"val_loss":null,"test_acc":0.25,"status":"diverged","seconds":1.5}"#
        );
        assert_eq!(serde_json::from_str::<TrainResult>(&text).unwrap(), r);
    }
}
