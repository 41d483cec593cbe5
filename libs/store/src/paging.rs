//! List pages for either backend: the SQL of a page and of its total, and, for cursor pages,
//! where the pages before and after it start.
//!
//! Index pages (`startIndex`) are `LIMIT … OFFSET …`: the cost of OFFSET grows with the depth
//! (ADR 0010). An IdP's import walks them in order, so each unfiltered, unsorted index page
//! leaves a resume point ([`ResumePoints`]): where the page after it starts, as a `seq`. The
//! next page asked for at that startIndex is then a keyset page, as cheap at page 1,000 as at
//! page 1 (ADR 0065). A page nobody walked to jumps: the tenant's kept counts per block of the
//! creation order (`resource_blocks`) say which block its first row is in, and only that
//! block's rows before it are skipped (ADR 0080). Filtered, sorted and parent pages go by
//! OFFSET. Cursor pages (RFC 9865, ADR 0011) are keyset pages over the creation order:
//! `seq > k` (or `seq < k` going back), read from the `(tenant, seq)` index, so a page costs
//! the same at any depth; one row more than the page is read to learn whether another follows.
//!
//! The total rides along in the page's own query as an uncorrelated scalar subquery, counted
//! once, so a page is one round trip; unfiltered, it is the tenant's kept count (ADR 0049),
//! unless the reader sees only what its connection owns (ADR 0040). A filtered index page
//! (an IdP's look-up) is counted by its own rows instead, unless it comes back full. Only a full filtered page or an empty one
//! past the start needs the count query on its own.
//! (A `count(*) OVER ()` window would make every page read every matching row with its
//! document, page 1 as much as page 901.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::{Owner, ResourceId, StreamKind, TenantSlug};
use scim::cursor::Position;
use scim::list::{ListQuery, Paging};

use crate::api::{Page, Reference, ResourceRecord, Scope};
use crate::query::{Compiler, Dialect, SqlValue, Target};
use crate::write_plan::BLOCK_POSITIONS;

/// The columns every page query selects, in this order, before the total (and, for a page of
/// users with their groups, `groups` after it).
pub const ROW_COLUMNS: &str = "r.id, r.document, r.version, r.created_at, r.last_modified, r.seq";

/// How many resume points a store keeps: enough for many imports walking at once; when full,
/// all are forgotten (the next pages go by OFFSET once, and leave new ones).
const RESUME_POINTS: usize = 4096;

/// Where unfiltered, unsorted index walks left off, per store (ADR 0065): the `seq` of the row
/// just before a startIndex. A page resumed from one is the keyset page after that row, which is
/// OFFSET's page while nothing before it changes, and, when something does, the page an import
/// walking in order wants (no row skipped or repeated for a delete or create behind it).
#[derive(Clone, Default)]
pub struct ResumePoints(Arc<Mutex<HashMap<ResumeKey, i64>>>);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ResumeKey {
    target: Target,
    tenant: TenantSlug,
    span: Span,
    scope: Scope,
    start_index: u64,
}

impl ResumePoints {
    fn key(target: Target, tenant: &TenantSlug, span: Span, scope: Scope, query: &ListQuery) -> Option<ResumeKey> {
        match query.paging {
            Paging::Index { start_index } if query.filter.is_none() && query.sort.is_none() && query.count > 0 => {
                Some(ResumeKey { target, tenant: tenant.clone(), span, scope, start_index })
            }
            _ => None,
        }
    }

    fn get(&self, key: &ResumeKey) -> Option<i64> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(key).copied()
    }

    fn put(&self, key: ResumeKey, seq: i64) {
        let mut points = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if points.len() >= RESUME_POINTS {
            points.clear();
        }
        points.insert(key, seq);
    }
}

/// Which tenants' rows a read spans: the tenant's own, or, for a parent, those of all its
/// sub-tenants (ADR 0074). The tenant stays the first parameter either way; rows keep their
/// order by `seq`, which is one sequence across tenants, so keyset pages and cursors work alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Span {
    Tenant,
    SubTenants,
}

impl Span {
    /// The condition on `column` (a tenant column) for the tenant bound at `param`.
    fn condition(self, column: &str, param: &str) -> String {
        match self {
            Span::Tenant => format!("{column} = {param}"),
            Span::SubTenants => format!("{column} IN (SELECT t.slug FROM tenants t WHERE t.parent = {param})"),
        }
    }

    /// The condition that shows a user held by two sub-tenants (its move half done) once: by
    /// the newer row, the move-in's (ADR 0074).
    fn newest(self, target: Target, param: &str) -> String {
        match (self, target) {
            (Span::SubTenants, Target::Users) => format!(
                " AND NOT EXISTS (SELECT 1 FROM users n WHERE {} AND n.id = r.id AND n.seq > r.seq)",
                self.condition("n.tenant", param)
            ),
            _ => String::new(),
        }
    }
}

/// A page query, ready to run on the dialect it was planned for.
pub struct PagePlan {
    /// The page's rows ([`ROW_COLUMNS`], then the total); `None` when the client asked only
    /// for the total (`count=0`).
    pub rows_sql: Option<String>,
    pub count_sql: String,
    /// The tenant, the filter's parameters, then the page's own.
    pub params: Vec<SqlValue>,
    /// How many of `params` the count query takes.
    pub count_params: usize,
    paging: Paging,
    count: u32,
    /// Whether a filter selects the rows (a filtered index page carries no total).
    filtered: bool,
    /// An index walk's page: where its resume point goes.
    resume: Option<(ResumePoints, ResumeKey)>,
}

impl PagePlan {
    pub fn new(
        dialect: &dyn Dialect,
        target: Target,
        (tenant, span): (&TenantSlug, Span),
        scope: Scope,
        query: &ListQuery,
        with_groups: bool,
        resume: &ResumePoints,
    ) -> Result<Self, scim::ScimError> {
        let walk = ResumePoints::key(target, tenant, span, scope, query);
        let resume_after = walk.as_ref().and_then(|key| resume.get(key));
        let mut compiler = Compiler::new(dialect, target, 1);
        let condition = match &query.filter {
            Some(filter) => compiler.filter(filter)?,
            None => "TRUE".to_owned(),
        };
        let owner = Owned::bind(&mut compiler, scope);
        let visible = owner.condition(if query.filter.is_some() { "r.owner || ''" } else { "r.owner" });
        let from = format!(
            "FROM {} r WHERE {} AND {condition}{visible}{}",
            target.table(),
            span.condition("r.tenant", &dialect.param(1)),
            span.newest(target, &dialect.param(1))
        );
        let count_sql = match &query.filter {
            // The kept count (ADR 0049) of the tenant, or of what the connection owns: a few
            // rows, where count(*) reads every resource.
            None => format!(
                "SELECT CAST(coalesce(sum(c.total), 0) AS BIGINT) FROM resource_counts c WHERE {} AND c.kind = '{}'{}",
                span.condition("c.tenant", &dialect.param(1)),
                target.table(),
                owner.condition("c.owner")
            ),
            Some(_) => format!("SELECT count(*) {from}"),
        };
        let groups = if with_groups { ", r.groups" } else { "" };
        // The page's parameters bind after the filter's, so the count query takes a prefix, and
        // the subquery of the total reuses the filter's placeholders.
        let rows_sql = match query.paging {
            _ if query.count == 0 => None,
            Paging::Index { .. } if resume_after.is_some() => {
                let key = compiler.bind(SqlValue::Int(resume_after.unwrap_or_default()));
                let limit = compiler.bind(SqlValue::Int(i64::from(query.count)));
                Some(format!("SELECT {ROW_COLUMNS}, ({count_sql}) AS total{groups} {from} AND r.seq > {key} ORDER BY r.seq LIMIT {limit}"))
            }
            Paging::Index { start_index } if query.filter.is_none() && query.sort.is_none() && span == Span::Tenant && start_index > 1 => {
                let limit = compiler.bind(SqlValue::Int(i64::from(query.count)));
                let skip = compiler.bind(SqlValue::Int(start_index as i64 - 1));
                let jump = block_jump(target, &dialect.param(1), &owner, &skip);
                Some(format!(
                    "WITH {jump} SELECT {ROW_COLUMNS}, ({count_sql}) AS total{groups} {from} AND r.seq >= (SELECT first_seq FROM jump)
                     ORDER BY r.seq LIMIT {limit} OFFSET coalesce((SELECT skip FROM jump), 0)"
                ))
            }
            Paging::Index { start_index } => {
                let order = match (&query.filter, &query.sort) {
                    // Sort the matches rather than walk the creation-order index: a planner that
                    // cannot see how few rows a filter selects (SQLite keeps no statistics, and
                    // neither sees LIMIT's value) would otherwise read every resource of the
                    // tenant in order to find an IdP's one look-up (measured: 200 look-ups/s).
                    (Some(_), None) => "r.seq + 0".to_owned(),
                    (_, sort) => compiler.order_by(sort.as_ref())?,
                };
                let limit = compiler.bind(SqlValue::Int(i64::from(query.count)));
                let offset = compiler.bind(SqlValue::Int(start_index as i64 - 1));
                // A filtered page is counted by its own rows unless it comes back full (an IdP's
                // look-up finds one of at most `count`), sparing every look-up a second probe.
                let total = if query.filter.is_some() { "CAST(NULL AS BIGINT)".to_owned() } else { format!("({count_sql})") };
                Some(format!("SELECT {ROW_COLUMNS}, {total} AS total{groups} {from} ORDER BY {order} LIMIT {limit} OFFSET {offset}"))
            }
            Paging::Cursor(position) => {
                let (op, direction, key) = match position {
                    None => (">", "ASC", 0),
                    Some(Position::After(k)) => (">", "ASC", k),
                    Some(Position::Before(k)) => ("<", "DESC", k),
                };
                let key = compiler.bind(SqlValue::Int(key));
                let limit = compiler.bind(SqlValue::Int(i64::from(query.count) + 1));
                Some(format!(
                    "SELECT {ROW_COLUMNS}, ({count_sql}) AS total{groups} {from} AND r.seq {op} {key} ORDER BY r.seq {direction} LIMIT {limit}"
                ))
            }
        };
        let bound = compiler.into_params();
        let filter_params = bound.len() - if rows_sql.is_some() { 2 } else { 0 };
        let mut params = vec![SqlValue::Text(tenant.as_str().to_owned())];
        params.extend(bound);
        let filtered = query.filter.is_some();
        let resume = walk.map(|key| (resume.clone(), key));
        Ok(PagePlan {
            rows_sql,
            count_sql,
            params,
            count_params: 1 + filter_params,
            paging: query.paging,
            count: query.count,
            filtered,
            resume,
        })
    }

    /// The total, when the page's `rows` rows (and the total they carried, if any) tell it;
    /// `None` when the count query must run: no page was read, a filtered index page came
    /// back full, or a page came back empty where rows may still match (past the start).
    pub fn total(&self, carried: Option<u64>, rows: usize) -> Option<u64> {
        self.rows_sql.as_ref()?;
        if carried.is_some() {
            return carried;
        }
        match self.paging {
            Paging::Index { start_index } if self.filtered => {
                (rows < self.count as usize && (rows > 0 || start_index == 1)).then(|| start_index - 1 + rows as u64)
            }
            Paging::Index { start_index } => (start_index == 1).then_some(0),
            Paging::Cursor(position) => position.is_none().then_some(0),
        }
    }

    /// The page from the rows `rows_sql` returned (each with its `seq`), the total, and the
    /// users' groups when they were read with the rows.
    pub fn finish(&self, mut rows: Vec<(ResourceRecord, i64)>, total: u64, groups: Option<HashMap<ResourceId, Vec<Reference>>>) -> Page {
        if let (Some((points, key)), Some((_, last))) = (&self.resume, rows.last()) {
            points.put(ResumeKey { start_index: key.start_index + rows.len() as u64, ..key.clone() }, *last);
        }
        let Paging::Cursor(position) = self.paging else {
            return Page { total, records: rows.into_iter().map(|(r, _)| r).collect(), groups, next: None, previous: None };
        };
        if self.rows_sql.is_none() {
            return Page { total, records: Vec::new(), groups, next: None, previous: None };
        }
        let more = rows.len() > self.count as usize;
        rows.truncate(self.count as usize);
        let backwards = matches!(position, Some(Position::Before(_)));
        if backwards {
            rows.reverse();
        }
        let first = rows.first().map(|(_, seq)| *seq);
        let last = rows.last().map(|(_, seq)| *seq);
        let (next, previous) = match position {
            None => (last.filter(|_| more).map(Position::After), None),
            Some(Position::After(k)) => (last.filter(|_| more).map(Position::After), Some(Position::Before(first.unwrap_or(k + 1)))),
            Some(Position::Before(k)) => (Some(Position::After(last.unwrap_or(k - 1))), first.filter(|_| more).map(Position::Before)),
        };
        // The row read past the page to learn whether another follows is not on it.
        let groups = groups.map(|mut groups| {
            groups.retain(|id, _| rows.iter().any(|(r, _)| r.id == *id));
            groups
        });
        Page { total, records: rows.into_iter().map(|(r, _)| r).collect(), groups, next, previous }
    }
}

/// The common table expressions that find where an unfiltered, unsorted index page starts
/// (ADR 0080): `jump` is one row, the first `seq` of the block of the creation order the page's
/// first row is in and how many of that block's rows come before it, from the running sums of
/// the tenant's kept counts per block (`resource_blocks`) that `owner` sees. No row when the
/// page starts past the last resource: `seq >= NULL` then holds for none.
fn block_jump(target: Target, tenant: &str, owner: &Owned, skip: &str) -> String {
    format!(
        "blocks AS (SELECT b.block, CAST(sum(b.total) AS BIGINT) AS total FROM resource_blocks b
                    WHERE b.tenant = {tenant} AND b.kind = '{}'{} GROUP BY b.block),
         upto AS (SELECT block, total, CAST(sum(total) OVER (ORDER BY block) AS BIGINT) AS through FROM blocks),
         jump AS (SELECT block * {BLOCK_POSITIONS} AS first_seq, {skip} - (through - total) AS skip FROM upto
                  WHERE through > {skip} ORDER BY block LIMIT 1)",
        target.table(),
        owner.condition("b.owner")
    )
}

/// The query of one resource by id as `scope` sees it, selecting [`ROW_COLUMNS`] and then the
/// tenant that holds it, newest holder first (a user is in two sub-tenants while its move is
/// half done, ADR 0074): its SQL and parameters (the tenant, the id, then the scope's).
pub fn one(
    dialect: &dyn Dialect,
    target: Target,
    tenant: &TenantSlug,
    span: Span,
    scope: Scope,
    id: ResourceId,
) -> (String, Vec<SqlValue>) {
    let mut compiler = Compiler::new(dialect, target, 2);
    let visible = Owned::bind(&mut compiler, scope).condition("r.owner");
    let sql = format!(
        "SELECT {ROW_COLUMNS}, r.tenant FROM {} r WHERE {} AND r.id = {}{visible} ORDER BY r.seq DESC",
        target.table(),
        span.condition("r.tenant", &dialect.param(1)),
        dialect.param(2)
    );
    let mut params = vec![SqlValue::Text(tenant.as_str().to_owned()), SqlValue::Uuid(id.as_uuid())];
    params.extend(compiler.into_params());
    (sql, params)
}

/// The query of the sub-tenants holding users (`Store::user_holders`): each id and holder,
/// newest row first. Its parameters are the parent and the ids, which `in_ids` compares with
/// as the dialect binds a list.
pub fn user_holders(dialect: &dyn Dialect, in_ids: &str) -> String {
    format!(
        "SELECT r.id, r.tenant FROM users r WHERE {} AND r.id {in_ids} ORDER BY r.seq DESC",
        Span::SubTenants.condition("r.tenant", &dialect.param(1))
    )
}

impl TryFrom<StreamKind> for Target {
    type Error = crate::api::StoreError;

    /// Only users and groups have owners (ADR 0040); asking for what owns a tenant,
    /// connection or operator is a bug of the caller.
    fn try_from(kind: StreamKind) -> Result<Self, Self::Error> {
        match kind {
            StreamKind::User => Ok(Target::Users),
            StreamKind::Group => Ok(Target::Groups),
            other => Err(crate::api::StoreError::Internal(format!("a {other:?} stream has no owner"))),
        }
    }
}

/// A keyset page of the ids (and `seq`) one owner owns, in creation order: parameters are the
/// tenant, the owner, the `seq` to start after and the limit. Read from `(tenant, owner, seq)`.
pub fn owned(dialect: &dyn Dialect, target: Target) -> String {
    let p = |n| dialect.param(n);
    format!(
        "SELECT r.id, r.seq FROM {} r WHERE r.tenant = {} AND r.owner = {} AND r.seq > {} ORDER BY r.seq LIMIT {}",
        target.table(),
        p(1),
        p(2),
        p(3),
        p(4)
    )
}

/// The owners a scoped read sees (ADR 0040), bound once for the rows and their count.
/// Unfiltered, the rows' condition walks the `(tenant, owner, seq)` index, in order; under a
/// filter it is spelled so that no planner takes that index for the look-up's own
/// (`owner || ''` is no indexed column, as `seq + 0` is not in ADR 0016): a look-up finds its
/// one row by its value's index and then checks the owner.
enum Owned {
    All,
    By { connection: String, manual: bool },
}

impl Owned {
    fn bind(compiler: &mut Compiler<'_>, scope: Scope) -> Self {
        match scope {
            Scope::Tenant => Owned::All,
            Scope::Owned { connection, manual } => Owned::By { connection: compiler.bind(SqlValue::Text(connection.to_string())), manual },
        }
    }

    /// The condition on `column` (an owner) that keeps what the read may see.
    fn condition(&self, column: &str) -> String {
        match self {
            Owned::All => String::new(),
            Owned::By { connection, manual: false } => format!(" AND {column} = {connection}"),
            Owned::By { connection, manual: true } => format!(" AND {column} IN ({connection}, '{}')", Owner::Operator),
        }
    }
}
