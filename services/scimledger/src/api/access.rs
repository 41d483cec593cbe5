//! What the calling connection may do (docs/adr/0040-ownership-and-read-scope.md): whose users
//! and groups it may change or claim, and which it sees.

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
    /// The policy of `connection`. Connections carry no ownership settings yet, so each keeps
    /// the behaviour it had before ownership: it reads the whole tenant and claims nothing.
    pub fn of(connection: &Connection) -> Self {
        Self { principal: Principal::Connection { id: connection.id, claim_manual: false }, scope: Scope::Tenant }
    }
}
