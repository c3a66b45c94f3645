//! The workbench's questions ([`muster_web::Api`]) answered by this
//! replica with the very functions behind its JSON endpoints: a page and
//! `/v1/<endpoint>` give the same answer to the same request.

use crate::answer::{self, QueryError};
use crate::replica::Replica;
use muster_proto::answers::*;
use muster_proto::requests::*;
use muster_web::{Api, ApiError};

fn api_error(e: QueryError) -> ApiError {
    ApiError { status: e.http_status(), answer: e.to_answer() }
}

impl Api for Replica {
    fn state(&self, r: StateRequest) -> Result<StateOut, ApiError> {
        self.read(|ledger| answer::state(ledger, r)).map_err(api_error)
    }

    fn tree(&self, r: TreeRequest) -> Result<Vec<TreeNodeOut>, ApiError> {
        self.read(|ledger| answer::tree(ledger, r)).map_err(api_error)
    }

    fn headcount(&self, r: HeadcountRequest) -> Result<HeadcountOut, ApiError> {
        self.read(|ledger| answer::headcount(ledger, r)).map_err(api_error)
    }

    fn roster(&self, r: RosterRequest) -> Result<Vec<RosterEntryOut>, ApiError> {
        self.read(|ledger| answer::roster(ledger, r)).map_err(api_error)
    }

    fn series(&self, r: SeriesRequest) -> Result<Vec<SeriesPointOut>, ApiError> {
        self.read(|ledger| answer::series(ledger, r)).map_err(api_error)
    }

    fn lineage(&self, r: LineageRequest) -> Result<Vec<LineageEdgeOut>, ApiError> {
        self.read(|ledger| answer::lineage(ledger, r)).map_err(api_error)
    }

    fn unit_events(&self, r: UnitEventsRequest) -> Result<Vec<UnitEventOut>, ApiError> {
        self.read(|ledger| answer::unit_events(ledger, r)).map_err(api_error)
    }

    fn history(&self, r: HistoryRequest) -> Result<Vec<HistoryEntryOut>, ApiError> {
        self.read(|ledger| answer::history(ledger, r)).map_err(api_error)
    }

    fn audit(&self, r: AuditRequest) -> Result<AuditOut, ApiError> {
        self.read(|ledger| answer::audit(ledger, r)).map_err(api_error)
    }

    fn corrections(&self, r: CorrectionsRequest) -> Result<CorrectionsOut, ApiError> {
        self.read(|ledger| answer::corrections(ledger, r)).map_err(api_error)
    }

    fn verify(&self) -> Result<VerifyAnswer, ApiError> {
        self.read(answer::verify).map_err(api_error)
    }

    async fn status(&self) -> StatusAnswer {
        Replica::status(self).await
    }

    async fn checkpoints(&self, r: CheckpointsRequest) -> Result<Vec<CheckpointOut>, ApiError> {
        Replica::checkpoints(self, r).await.map_err(api_error)
    }

    fn inclusion_proof(&self, r: InclusionProofRequest) -> Result<InclusionProofOut, ApiError> {
        self.read(|ledger| crate::proofs::inclusion(ledger, r)).map_err(api_error)
    }
}
