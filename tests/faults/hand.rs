//! A worker played by hand over gRPC (the generated client of `hypersearch-proto`): to send
//! exactly the late, duplicate or stale messages a fault test needs.

use hypersearch_proto::auth::WORKER_CREDENTIAL;
use hypersearch_proto::pb;
use hypersearch_proto::pb::coordinator_client::CoordinatorClient;
use tonic::transport::Channel;

/// A connection speaking as worker `id`.
pub struct Hand {
    client: CoordinatorClient<Channel>,
    /// The worker id it sends.
    pub id: u64,
    /// The credential it presents (none for a hand that did not join).
    credential: Option<String>,
}

/// A runtime for one test's calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

impl Hand {
    /// Connects to `address` as worker `id` (registered or not).
    pub async fn connect(address: &str, id: u64) -> Hand {
        let client = CoordinatorClient::connect(address.to_string())
            .await
            .expect("connect to the coordinator");
        Hand {
            client,
            id,
            credential: None,
        }
    }

    /// `message` with this hand's credential, if it has one.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(credential) = &self.credential {
            request.metadata_mut().insert(
                WORKER_CREDENTIAL,
                credential.parse().expect("an ASCII credential"),
            );
        }
        request
    }

    /// Registers a new worker with `slots` slots and speaks as it.
    pub async fn join(address: &str, slots: u32) -> Hand {
        let mut hand = Hand::connect(address, 0).await;
        let welcome = hand
            .client
            .register(pb::RegisterRequest {
                name: "hand".into(),
                hostname: "test".into(),
                slots,
                version: "test".into(),
            })
            .await
            .expect("register")
            .into_inner();
        hand.id = welcome.worker_id;
        hand.credential = Some(welcome.credential);
        hand
    }

    /// Leases up to `max` trials, waiting up to `wait_ms`.
    pub async fn lease(&mut self, max: u32, wait_ms: u32) -> Vec<pb::LeaseRef> {
        let request = self.request(pb::LeaseRequest {
            worker_id: self.id,
            max_trials: max,
            wait_ms,
        });
        self.client
            .lease(request)
            .await
            .expect("lease")
            .into_inner()
            .trials
            .into_iter()
            .filter_map(|t| t.lease)
            .collect()
    }

    /// Reports `epochs` of `metric`; returns the stop decision, if any.
    pub async fn report(
        &mut self,
        lease: pb::LeaseRef,
        metric: &str,
        epochs: &[(u32, f64)],
    ) -> Result<Option<pb::StopDecision>, tonic::Status> {
        let epochs = epochs
            .iter()
            .map(|&(epoch, value)| pb::EpochMetrics {
                epoch,
                metrics: vec![pb::Metric {
                    name: metric.into(),
                    value,
                }],
            })
            .collect();
        let request = self.request(pb::ReportRequest {
            worker_id: self.id,
            lease: Some(lease),
            epochs,
        });
        let reply = self.client.report(request).await?;
        Ok(reply.into_inner().stop)
    }

    /// Completes `lease` as finished with `metric` = `value`.
    pub async fn finish(
        &mut self,
        lease: pb::LeaseRef,
        metric: &str,
        value: f64,
    ) -> Result<(), tonic::Status> {
        let outcome = pb::complete_request::Outcome::Finished(pb::Finished {
            metrics: vec![pb::Metric {
                name: metric.into(),
                value,
            }],
        });
        self.complete(lease, outcome).await
    }

    /// Completes `lease` with `outcome`.
    pub async fn complete(
        &mut self,
        lease: pb::LeaseRef,
        outcome: pb::complete_request::Outcome,
    ) -> Result<(), tonic::Status> {
        let request = self.request(pb::CompleteRequest {
            worker_id: self.id,
            lease: Some(lease),
            outcome: Some(outcome),
            next_max_trials: 0,
        });
        self.client.complete(request).await.map(|_| ())
    }

    /// Sends a heartbeat for `leases`; returns those the coordinator says are lost.
    pub async fn heartbeat(&mut self, leases: &[pb::LeaseRef]) -> Vec<pb::LeaseRef> {
        let request = self.request(pb::HeartbeatRequest {
            worker_id: self.id,
            leases: leases.to_vec(),
        });
        self.client
            .heartbeat(request)
            .await
            .expect("heartbeat")
            .into_inner()
            .lost
    }
}
