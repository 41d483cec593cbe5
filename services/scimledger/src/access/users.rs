//! A tenant's users as the access projection keeps them: entries in a slab, found by id and by
//! login through hash tables of slot numbers. The tables hold no keys of their own: an id or a
//! login is read from the entry a slot names, so a user's userName is stored once, and each
//! index costs a few bytes per user instead of a copy of its key (ADR 0061: at a million users,
//! every byte per user is a megabyte).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;

use domain::names::fold_case;
use domain::role::RoleName;
use domain::{Owner, ResourceId};
use hashbrown::hash_table::{Entry, HashTable};
use smallvec::SmallVec;

use super::model::RolesHeld;

/// What the projection keeps of a user.
#[derive(Debug)]
pub struct UserEntry {
    id: ResourceId,
    user_name: Box<str>,
    /// Case-folded aliases; the userName's key is folded from `user_name` when needed.
    aliases: Box<[Box<str>]>,
    pub groups: SmallVec<[ResourceId; 1]>,
    pub version: i64,
    pub created_with: Option<Arc<RoleName>>,
    /// The roles the user's assignment stream holds.
    pub held: RolesHeld,
    pub owner: Owner,
    pub active: bool,
}

impl UserEntry {
    /// A user with these logins (the aliases case-folded), in no group, active, with nothing
    /// else known yet.
    pub fn new(id: ResourceId, user_name: Box<str>, aliases: Box<[Box<str>]>) -> Self {
        Self {
            id,
            user_name,
            aliases,
            groups: SmallVec::new(),
            version: 0,
            created_with: None,
            held: RolesHeld::NONE,
            owner: Owner::Operator,
            active: true,
        }
    }

    pub fn id(&self) -> ResourceId {
        self.id
    }

    pub fn user_name(&self) -> &str {
        &self.user_name
    }

    /// What a freed slot holds: nothing on the heap.
    fn vacant(id: ResourceId) -> Self {
        Self::new(id, Box::default(), Box::default())
    }

    /// How many logins the user has: its userName, then its aliases.
    fn login_count(&self) -> usize {
        1 + self.aliases.len()
    }

    /// Whether login `which` (0: the userName; k: alias k - 1) folds to `folded`.
    fn login_is(&self, which: u16, folded: &str) -> bool {
        match which {
            // A folded ASCII login has no upper case, so comparing ASCII case-insensitively is
            // comparing folded keys, without folding (and allocating) on every probe.
            0 if self.user_name.is_ascii() => self.user_name.eq_ignore_ascii_case(folded),
            0 => fold_case(&self.user_name) == folded,
            alias => &*self.aliases[usize::from(alias) - 1] == folded,
        }
    }

    /// Login `which`, folded.
    fn login(&self, which: u16) -> std::borrow::Cow<'_, str> {
        match which {
            0 => fold_case(&self.user_name).into(),
            alias => (&*self.aliases[usize::from(alias) - 1]).into(),
        }
    }
}

/// One of a user's logins, as the login table names it: the user's slot, and which login.
#[derive(Debug, Clone, Copy)]
struct LoginRef {
    slot: u32,
    which: u16,
}

#[derive(Debug, Default)]
pub struct Users {
    entries: Vec<UserEntry>,
    free: Vec<u32>,
    by_id: HashTable<u32>,
    by_login: HashTable<LoginRef>,
    hasher: RandomState,
}

impl Users {
    pub fn get(&self, id: &ResourceId) -> Option<&UserEntry> {
        self.slot(id).map(|slot| &self.entries[slot as usize])
    }

    pub fn get_mut(&mut self, id: &ResourceId) -> Option<&mut UserEntry> {
        self.slot(id).map(|slot| &mut self.entries[slot as usize])
    }

    pub fn contains(&self, id: &ResourceId) -> bool {
        self.slot(id).is_some()
    }

    pub fn ids(&self) -> impl Iterator<Item = ResourceId> + '_ {
        self.by_id.iter().map(|slot| self.entries[*slot as usize].id)
    }

    /// The user whose userName or alias folds to `folded`.
    pub fn by_login(&self, folded: &str) -> Option<&UserEntry> {
        let hash = self.hasher.hash_one(folded);
        let login = self.by_login.find(hash, |l| self.entries[l.slot as usize].login_is(l.which, folded))?;
        Some(&self.entries[login.slot as usize])
    }

    /// Adds the user (or replaces the one with its id), and gives it its logins.
    pub fn insert(&mut self, entry: UserEntry) {
        let id = entry.id;
        let slot = match self.slot(&id) {
            Some(slot) => {
                self.release_logins(slot);
                self.entries[slot as usize] = entry;
                slot
            }
            None => {
                let slot = match self.free.pop() {
                    Some(slot) => {
                        self.entries[slot as usize] = entry;
                        slot
                    }
                    None => {
                        self.entries.push(entry);
                        u32::try_from(self.entries.len() - 1).expect("fewer than 2^32 users in one tenant")
                    }
                };
                let entries = &self.entries;
                let hasher = &self.hasher;
                self.by_id.insert_unique(hasher.hash_one(id), slot, |s| hasher.hash_one(entries[*s as usize].id));
                slot
            }
        };
        self.claim_logins(slot);
    }

    pub fn remove(&mut self, id: &ResourceId) -> Option<UserEntry> {
        let slot = self.slot(id)?;
        self.release_logins(slot);
        let hash = self.hasher.hash_one(id);
        if let Ok(found) = self.by_id.find_entry(hash, |s| *s == slot) {
            found.remove();
        }
        self.free.push(slot);
        Some(std::mem::replace(&mut self.entries[slot as usize], UserEntry::vacant(*id)))
    }

    /// Renames the user: it answers to its new userName, and no longer to the old one.
    pub fn rename(&mut self, id: &ResourceId, to: Box<str>) {
        self.relogin(id, |entry| entry.user_name = to);
    }

    /// Replaces the user's (case-folded) aliases.
    pub fn set_aliases(&mut self, id: &ResourceId, aliases: Box<[Box<str>]>) {
        self.relogin(id, |entry| entry.aliases = aliases);
    }

    fn relogin(&mut self, id: &ResourceId, change: impl FnOnce(&mut UserEntry)) {
        let Some(slot) = self.slot(id) else { return };
        self.release_logins(slot);
        change(&mut self.entries[slot as usize]);
        self.claim_logins(slot);
    }

    fn slot(&self, id: &ResourceId) -> Option<u32> {
        self.by_id.find(self.hasher.hash_one(id), |s| self.entries[*s as usize].id == *id).copied()
    }

    /// Points each of the slot's logins at it; a login another user held is this one's now
    /// (logins are unique, but one released may be claimed again).
    fn claim_logins(&mut self, slot: u32) {
        let entry = &self.entries[slot as usize];
        for which in 0..login_index(entry.login_count()) {
            let login = entry.login(which);
            let hash = self.hasher.hash_one(&*login);
            let entries = &self.entries;
            let hasher = &self.hasher;
            let found = self.by_login.entry(
                hash,
                |l| entries[l.slot as usize].login_is(l.which, &login),
                |l| hasher.hash_one(&*entries[l.slot as usize].login(l.which)),
            );
            let claimed = LoginRef { slot, which };
            match found {
                Entry::Occupied(mut held) => *held.get_mut() = claimed,
                Entry::Vacant(vacant) => {
                    vacant.insert(claimed);
                }
            }
        }
    }

    /// Forgets the slot's logins, unless another user holds one by now.
    fn release_logins(&mut self, slot: u32) {
        let entry = &self.entries[slot as usize];
        for which in 0..login_index(entry.login_count()) {
            let login = entry.login(which);
            let hash = self.hasher.hash_one(&*login);
            let entries = &self.entries;
            if let Ok(held) = self.by_login.find_entry(hash, |l| entries[l.slot as usize].login_is(l.which, &login)) {
                if held.get().slot == slot {
                    held.remove();
                }
            }
        }
    }
}

fn login_index(count: usize) -> u16 {
    u16::try_from(count).expect("fewer than 65,535 aliases per user: the resource size limit keeps them far below")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: ResourceId, name: &str, aliases: &[&str]) -> UserEntry {
        UserEntry::new(id, name.into(), aliases.iter().map(|a| fold_case(a).into_boxed_str()).collect())
    }

    fn login_of(users: &Users, login: &str) -> Option<ResourceId> {
        users.by_login(&fold_case(login)).map(UserEntry::id)
    }

    #[test]
    fn logins_follow_renames_alias_changes_and_removals() {
        let (ada, grace) = (ResourceId::new(), ResourceId::new());
        let mut users = Users::default();
        users.insert(user(ada, "Ada@Example.com", &["Countess@Example.com"]));
        users.insert(user(grace, "Grâce@Example.com", &[]));
        assert_eq!(login_of(&users, "ada@example.COM"), Some(ada));
        assert_eq!(login_of(&users, "countess@example.com"), Some(ada));
        assert_eq!(login_of(&users, "GRÂCE@example.com"), Some(grace));

        users.rename(&ada, "Lovelace@Example.com".into());
        assert_eq!(login_of(&users, "ada@example.com"), None);
        assert_eq!(login_of(&users, "lovelace@example.com"), Some(ada));

        users.set_aliases(&ada, Box::default());
        assert_eq!(login_of(&users, "countess@example.com"), None);

        assert_eq!(users.remove(&grace).map(|g| g.id()), Some(grace));
        assert_eq!(login_of(&users, "grâce@example.com"), None);
        assert!(!users.contains(&grace));
        assert_eq!(users.ids().collect::<Vec<_>>(), [ada]);
    }

    #[test]
    fn a_login_claimed_again_stays_with_its_new_holder() {
        let (first, second) = (ResourceId::new(), ResourceId::new());
        let mut users = Users::default();
        users.insert(user(first, "first@example.com", &["shared@example.com"]));
        users.insert(user(second, "Shared@Example.com", &[]));
        assert_eq!(login_of(&users, "shared@example.com"), Some(second));
        // The first user letting go of the alias leaves the login with the second.
        users.set_aliases(&first, Box::default());
        assert_eq!(login_of(&users, "shared@example.com"), Some(second));
        users.remove(&first);
        assert_eq!(login_of(&users, "shared@example.com"), Some(second));
    }

    #[test]
    fn freed_slots_are_reused_without_confusing_ids() {
        let mut users = Users::default();
        let ids: Vec<ResourceId> = (0..1_000).map(|_| ResourceId::new()).collect();
        for (i, id) in ids.iter().enumerate() {
            users.insert(user(*id, &format!("user{i}@example.com"), &[&format!("alias{i}@example.com")]));
        }
        for id in ids.iter().step_by(2) {
            users.remove(id);
        }
        let newcomer = ResourceId::new();
        users.insert(user(newcomer, "newcomer@example.com", &[]));
        assert_eq!(login_of(&users, "newcomer@example.com"), Some(newcomer));
        for (i, id) in ids.iter().enumerate() {
            let expected = (i % 2 == 1).then_some(*id);
            assert_eq!(login_of(&users, &format!("USER{i}@example.com")), expected);
            assert_eq!(login_of(&users, &format!("alias{i}@example.com")), expected);
            assert_eq!(users.get(id).map(UserEntry::id), expected);
        }
        assert_eq!(users.ids().count(), 501);
    }
}
