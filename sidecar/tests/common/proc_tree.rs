//! The process tree under a pid, read from `/proc/<pid>/stat` (Linux): how the tests count the
//! children a sidecar spawned, including zombies (an unreaped child still counts as left behind).

use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    /// `R`, `S`, `Z`, ... as in proc(5).
    pub state: char,
    pub comm: String,
}

/// Parse one `/proc/<pid>/stat` line: `pid (comm) state ppid ...`; `comm` may contain spaces and
/// parentheses, so it ends at the last `)`.
fn parse_stat(line: &str) -> Option<Proc> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let pid = line[..open].trim().parse().ok()?;
    let comm = line[open + 1..close].to_string();
    let mut rest = line[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some(Proc {
        pid,
        ppid,
        state,
        comm,
    })
}

pub fn all() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|line| parse_stat(&line))
        .collect()
}

/// Every process whose parent chain leads to `root` (not `root` itself).
pub fn descendants(root: u32) -> Vec<Proc> {
    let procs = all();
    let mut children: HashMap<u32, Vec<&Proc>> = HashMap::new();
    for p in &procs {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for child in children.get(&pid).into_iter().flatten() {
            out.push((*child).clone());
            stack.push(child.pid);
        }
    }
    out
}

pub fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|line| parse_stat(&line))
        .is_some_and(|p| p.state != 'Z' && p.state != 'X')
}

/// Live processes (not zombies) whose command line has the argument `arg`: finds a sidecar's
/// children even after they were reparented (the sidecar exited before killing them).
pub fn alive_with_arg(arg: &str) -> Vec<Proc> {
    all()
        .into_iter()
        .filter(|p| p.state != 'Z' && p.state != 'X')
        .filter(|p| {
            std::fs::read(format!("/proc/{}/cmdline", p.pid))
                .is_ok_and(|line| line.split(|b| *b == 0).any(|a| a == arg.as_bytes()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_with_spaces_and_parens() {
        let p = parse_stat("42 (node (x) y) S 7 42 42 0").unwrap();
        assert_eq!(
            (p.pid, p.ppid, p.state, p.comm.as_str()),
            (42, 7, 'S', "node (x) y")
        );
    }
}
