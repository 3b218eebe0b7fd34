//! `[relay]`: gossipsub parameters (nwaku's defaults), mapped to the harness's [`RelayInput`]
//! with the protected shards of `[shards]`.

use protocols::harness::RelayInput;
use protocols::relay::config::RelayConfig;

use super::config_error;
use super::sharding::ShardSpec;
use crate::model::FieldError;

/// Checks `[relay]`.
pub(super) fn validate(relay: &RelayConfig, errors: &mut Vec<FieldError>) {
    if let Err(e) = relay.validate() {
        errors.push(config_error(e));
    }
}

/// The harness's relay section: `[relay]`, and `[shards]`'s protected shards.
pub(super) fn input(relay: &RelayConfig, shards: &ShardSpec) -> RelayInput {
    RelayInput {
        config: relay.clone(),
        protected_topics: shards.protected.clone(),
    }
}
