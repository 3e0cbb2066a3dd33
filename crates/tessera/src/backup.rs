//! `tessera backup --output FILE`: a consistent copy of an embedded (SQLite) database,
//! taken while the server may be running; on PostgreSQL, the `pg_dump` command to run
//! instead. `tessera restore --input FILE` puts such a copy in place of the database,
//! with every node stopped.
//!
//! The copy is written to a new file beside FILE (mode 0600: the database holds password
//! hashes, encrypted keys and personal data), checked (`PRAGMA integrity_check`, the
//! migrations applied), flushed to disk, and only then given its name: a backup that
//! fails never leaves a half-written file under FILE. The master key is not in the
//! database; the output says so.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::json;
use tessera_store::DatabaseUrl;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::backup::{self as store_backup, SqliteFile};

use crate::cli::{Backup, Restore};
use crate::commands::init_logging;
use crate::settings::Settings;
use crate::{Fatal, bootstrap};

pub fn run(config: Option<&Path>, args: &Backup) -> Result<(), Fatal> {
    let settings = Settings::load(config)?;
    init_logging(&settings);
    match &settings.database_url {
        DatabaseUrl::Postgres(raw) => Err(Fatal(pg_dump_advice(raw, &args.output))),
        DatabaseUrl::Sqlite(database) => backup_sqlite(&settings, database, args),
    }
}

/// Where the master key of these settings is kept, for the reminder printed with a
/// backup.
fn master_key_place(settings: &Settings) -> String {
    if settings.master_key.is_some() {
        "the master_key setting (TESSERA_MASTER_KEY)".to_owned()
    } else {
        settings.data_dir.join(bootstrap::MASTER_KEY_FILE).display().to_string()
    }
}

fn backup_sqlite(settings: &Settings, database: &Path, args: &Backup) -> Result<(), Fatal> {
    if !database.is_file() {
        return Err(Fatal(format!("database_url: there is no database at {}", database.display())));
    }
    let output = &args.output;
    if !args.force && output.symlink_metadata().is_ok() {
        return Err(Fatal(format!("--output: {} exists; give --force to replace it", output.display())));
    }
    if output.is_dir() {
        return Err(Fatal(format!("--output: {} is a directory", output.display())));
    }
    let name = output
        .file_name()
        .ok_or_else(|| Fatal(format!("--output: {} does not name a file", output.display())))?
        .to_string_lossy()
        .into_owned();
    let folder = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let partial = folder.join(format!(".{name}.{}.partial", tessera_store::new_id()));
    create_private(&partial)
        .map_err(|e| Fatal(format!("--output: cannot create a file in {}: {e}", folder.display())))?;
    let written = copy_and_check(settings, &partial).and_then(|file| {
        place(&partial, output, args.force)?;
        Ok(file)
    });
    let file = match written {
        Ok(file) => file,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let bytes = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    let latest = file.applied.last().cloned().unwrap_or_default();
    if let Err(e) = record(settings, output, bytes, &latest, file.applied.len()) {
        let _ = std::fs::remove_file(output);
        return Err(Fatal(format!("{e}; the backup was removed, since it could not be recorded in the audit log")));
    }
    println!(
        "Backed up {} to {} ({bytes} bytes; schema version {latest}, {} migrations; integrity ok; mode 0600).",
        settings.database_url,
        output.display(),
        file.applied.len()
    );
    println!(
        "The master key is not in the backup: keep {} safe and apart from it. Without that key \
         the signing keys and secrets in the backup cannot be decrypted, and a node restored \
         from it will not start.",
        master_key_place(settings)
    );
    Ok(())
}

pub fn restore(config: Option<&Path>, args: &Restore) -> Result<(), Fatal> {
    let settings = Settings::load(config)?;
    init_logging(&settings);
    let target = match &settings.database_url {
        DatabaseUrl::Postgres(raw) => return Err(Fatal(pg_restore_advice(raw, &args.input))),
        DatabaseUrl::Sqlite(path) => path.clone(),
    };
    let input = &args.input;
    let file = store_backup::inspect_sqlite(input).map_err(|e| Fatal(format!("--input: {e}")))?;
    if file.integrity != "ok" {
        return Err(Fatal(format!("--input: {} is damaged: integrity check: {}", input.display(), file.integrity)));
    }
    if file.applied.is_empty() {
        return Err(Fatal(format!("--input: {} is not a Tessera database (no migrations applied)", input.display())));
    }
    if let Some(newer) = file.unknown.first() {
        return Err(Fatal(format!(
            "--input: {} has schema version {newer}, which this version of Tessera does not know: \
             restore it with the version that wrote it",
            input.display()
        )));
    }
    check_master_key(&settings, input)?;
    if target.symlink_metadata().is_ok() {
        if same_file(input, &target) {
            return Err(Fatal(format!("--input: {} is the database itself", input.display())));
        }
        if !args.force {
            return Err(Fatal(format!(
                "database_url: {} exists; stop every node, then give --force to replace it",
                target.display()
            )));
        }
        store_backup::sqlite_not_in_use(&target)
            .map_err(|e| Fatal(format!("database_url: {} is in use (stop every node first): {e}", target.display())))?;
    }
    let folder = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&folder)
        .map_err(|e| Fatal(format!("database_url: cannot create {}: {e}", folder.display())))?;
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = folder.join(format!(".{name}.{}.partial", tessera_store::new_id()));
    let placed = copy_private(input, &partial).and_then(|()| {
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut side = target.clone().into_os_string();
            side.push(suffix);
            match std::fs::remove_file(PathBuf::from(side)) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&partial, &target)?;
        #[cfg(unix)]
        File::open(&folder).and_then(|d| d.sync_all())?;
        Ok(())
    });
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&partial);
        return Err(Fatal(format!("database_url: cannot write {}: {e}", target.display())));
    }
    let latest = file.applied.last().cloned().unwrap_or_default();
    let source = std::fs::canonicalize(input).unwrap_or_else(|_| input.clone());
    let store = bootstrap::open_store(&settings)?;
    store
        .write_transaction(|c| {
            audit::record(
                c,
                &NewAuditEvent {
                    actor: "cli",
                    action: "database.restore",
                    target: "database",
                    summary: json!({ "file": source.display().to_string(), "schema_version": latest }),
                    client_ip: None,
                },
                crate::now(),
            )
        })
        .map_err(|e| Fatal(format!("restored, but writing the audit event failed: {e}")))?;
    println!(
        "Restored {} into {} (schema version {latest}; {} pending migration(s) are applied at the next start).",
        input.display(),
        settings.database_url,
        file.pending
    );
    println!("Start the nodes with the master key the backup was taken with ({}).", master_key_place(&settings));
    Ok(())
}

/// The backup must have been set up with the master key configured here: a node on it
/// would refuse to start with any other.
fn check_master_key(settings: &Settings, input: &Path) -> Result<(), Fatal> {
    let from_file;
    let key = match &settings.master_key {
        Some(key) => key,
        None => {
            let path = settings.data_dir.join(bootstrap::MASTER_KEY_FILE);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Fatal(format!(
                    "master_key: cannot read {} ({e}): put the master key the backup was taken with there, \
                     or set TESSERA_MASTER_KEY, before restoring",
                    path.display()
                ))
            })?;
            from_file = tessera_tokens::MasterKey::from_base64(&text)
                .map_err(|e| Fatal(format!("master_key: {}: {e}", path.display())))?;
            &from_file
        }
    };
    let mut conn = store_backup::open_sqlite_file(input).map_err(|e| Fatal(format!("--input: {e}")))?;
    let check = tessera_store::instance::master_key_check(&mut conn).map_err(|e| Fatal(format!("--input: {e}")))?;
    match check {
        Some(check) if !key.verify_check(&check) => Err(Fatal(format!(
            "master_key: {} was not taken with the master key configured here ({}); a node could not \
             decrypt its signing keys",
            input.display(),
            master_key_place(settings)
        ))),
        _ => Ok(()),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(a), Ok(b)) if a == b)
}

/// Copies `from` into a new file `to` that only its owner may read and write, flushed
/// to disk.
fn copy_private(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut source = File::open(from)?;
    let mut copy = create_private(to)?;
    std::io::copy(&mut source, &mut copy)?;
    copy.sync_all()
}

/// An empty file that only its owner may read and write, created new.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Copies the database into `partial` (an empty file) and checks the copy.
fn copy_and_check(settings: &Settings, partial: &Path) -> Result<SqliteFile, Fatal> {
    let store = bootstrap::open_store(settings)?;
    let mut conn = store.unbounded_conn().map_err(|e| Fatal(format!("database_url: {e}")))?;
    store_backup::sqlite_copy_into(&mut conn, partial).map_err(|e| Fatal(format!("backing up failed: {e}")))?;
    drop(conn);
    let file = store_backup::inspect_sqlite(partial).map_err(|e| Fatal(format!("checking the backup failed: {e}")))?;
    if file.integrity != "ok" {
        return Err(Fatal(format!("checking the backup failed: integrity check: {}", file.integrity)));
    }
    if file.applied.is_empty() {
        return Err(Fatal(format!(
            "database_url: {} is not a Tessera database (no migrations applied)",
            settings.database_url
        )));
    }
    File::open(partial).and_then(|f| f.sync_all()).map_err(|e| Fatal(format!("writing the backup failed: {e}")))?;
    Ok(file)
}

/// Gives the finished copy its name: without `force` only if the name is still free
/// (a hard link fails when it exists), with `force` replacing what is there; either way
/// in one step, then the folder is flushed so that the name survives a crash.
fn place(partial: &Path, output: &Path, force: bool) -> Result<(), Fatal> {
    let failed = |e: std::io::Error| Fatal(format!("--output: cannot write {}: {e}", output.display()));
    if force {
        std::fs::rename(partial, output).map_err(failed)?;
    } else {
        match std::fs::hard_link(partial, output) {
            Ok(()) => {
                let _ = std::fs::remove_file(partial);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return Err(Fatal(format!("--output: {} exists; give --force to replace it", output.display())));
            }
            Err(e) => return Err(failed(e)),
        }
    }
    #[cfg(unix)]
    if let Some(folder) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(folder).and_then(|d| d.sync_all()).map_err(failed)?;
    }
    Ok(())
}

/// Writes `database.backup` to the audit log, actor `cli`.
fn record(settings: &Settings, output: &Path, bytes: u64, latest: &str, migrations: usize) -> Result<(), Fatal> {
    let store = bootstrap::open_store(settings)?;
    let file = std::fs::canonicalize(output).unwrap_or_else(|_| output.to_path_buf());
    let now = crate::now();
    store
        .write_transaction(|c| {
            audit::record(
                c,
                &NewAuditEvent {
                    actor: "cli",
                    action: "database.backup",
                    target: "database",
                    summary: json!({
                        "file": file.display().to_string(),
                        "bytes": bytes,
                        "schema_version": latest,
                        "migrations": migrations,
                    }),
                    client_ip: None,
                },
                now,
            )
        })
        .map(|_| ())
        .map_err(|e| Fatal(format!("writing the audit event failed: {e}")))
}

/// The one line `tessera backup` answers on PostgreSQL: the `pg_dump` command for the
/// configured database, without its password.
fn pg_dump_advice(raw: &str, output: &Path) -> String {
    format!(
        "database_url: PostgreSQL is backed up with pg_dump, not tessera backup: run \
         pg_dump --format=custom --file={} --dbname={} (the password from PGPASSWORD or \
         ~/.pgpass), and keep the master key (TESSERA_MASTER_KEY) apart from the dump: \
         see docs/operations.md, Backups",
        shell_quote(&output.display().to_string()),
        shell_quote(&without_password(raw)),
    )
}

/// The one line `tessera restore` answers on PostgreSQL.
fn pg_restore_advice(raw: &str, input: &Path) -> String {
    format!(
        "database_url: PostgreSQL is restored with pg_restore, not tessera restore: stop the nodes, \
         create an empty database and run pg_restore --no-owner --exit-on-error --dbname={} {} (the \
         password from PGPASSWORD or ~/.pgpass), then start the nodes with the same master key \
         (TESSERA_MASTER_KEY): see docs/operations.md, Backups",
        shell_quote(&without_password(raw)),
        shell_quote(&input.display().to_string()),
    )
}

/// The URL without a password, in the authority or as a `password` parameter.
fn without_password(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "YOUR_DATABASE_URL".to_owned();
    };
    let _ = url.set_password(None);
    let kept: Vec<(String, String)> =
        url.query_pairs().filter(|(k, _)| k != "password").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    url.to_string()
}

/// `text` in single quotes for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pg_dump_command_never_carries_the_password() {
        assert_eq!(
            without_password("postgres://tessera:hunter2@db:5432/tessera"),
            "postgres://tessera@db:5432/tessera"
        );
        assert_eq!(
            without_password("postgresql://db/tessera?password=hunter2&sslmode=require"),
            "postgresql://db/tessera?sslmode=require"
        );
        let advice = pg_dump_advice("postgres://u:secret@h/d", Path::new("it's.dump"));
        assert!(!advice.contains("secret"), "{advice}");
        assert!(
            advice.contains("pg_dump --format=custom --file='it'\\''s.dump' --dbname='postgres://u@h/d'"),
            "{advice}"
        );
    }
}
