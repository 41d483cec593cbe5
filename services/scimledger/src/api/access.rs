//! What the calling connection may do (docs/adr/0040-ownership-and-read-scope.md): whose users
//! and groups it may change or claim, and which it sees.

use domain::connection::ReadScope;
use domain::Principal;
use store::{Connection, Scope};

/// The calling connection's policy, handed to every command and query of its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Who the commands act as: the connection, and whether it claims manual resources.
    pub principal: Principal,
    /// What its reads see.
    pub scope: Scope,
}

impl Access {
    /// An operator's: resources it creates are operator-owned (manual), it may change any
    /// resource of the tenant, and it sees them all.
    pub const OPERATOR: Access = Access { principal: Principal::Operator, scope: Scope::Tenant };

    /// The policy of `connection`, from its settings `claim_manual` and `read_scope`. A
    /// connection that claims manual resources also sees them under `own`: it could not find
    /// what it is allowed to take over otherwise.
    pub fn of(connection: &Connection) -> Self {
        let claim_manual = connection.settings.claim_manual;
        let scope = match connection.settings.read_scope {
            ReadScope::All => Scope::Tenant,
            ReadScope::Own => Scope::Owned { connection: connection.id, manual: claim_manual },
        };
        Self { principal: Principal::Connection { id: connection.id, claim_manual }, scope }
    }
}
