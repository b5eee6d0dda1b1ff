//! The standard `process_*` metrics, read from `/proc/self` at each scrape (Linux; nothing
//! elsewhere), in the names Prometheus client libraries use.

use std::fmt::Write;

/// Clock ticks per second in `/proc` figures: the kernel's USER_HZ, 100 on every Linux ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// What one scrape read.
#[derive(Debug, Default, PartialEq)]
struct Process {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    start_time_seconds: f64,
    open_fds: f64,
    max_fds: Option<f64>,
}

/// The process metrics in the Prometheus text format; empty when `/proc` cannot be read.
pub(crate) fn render() -> String {
    let Some(p) = read() else {
        return String::new();
    };
    let mut out = String::new();
    let mut series = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n"
        );
    };
    series(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        p.cpu_seconds,
    );
    series(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        p.resident_bytes,
    );
    series(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        p.virtual_bytes,
    );
    series(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        p.start_time_seconds,
    );
    series(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        p.open_fds,
    );
    if let Some(max) = p.max_fds {
        series(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max,
        );
    }
    out
}

fn read() -> Option<Process> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    parse(&stat, &status, &boot, &limits, open_fds)
}

/// Reads the figures out of `/proc/self/stat`, `/proc/self/status`, `/proc/stat` and
/// `/proc/self/limits`.
fn parse(stat: &str, status: &str, boot: &str, limits: &str, open_fds: f64) -> Option<Process> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Indexes are the field numbers of proc(5) minus 3.
    let number = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    let (utime, stime, start_ticks) = (number(11)?, number(12)?, number(19)?);
    let kib = |key: &str| {
        status.lines().find_map(|l| {
            let rest = l.strip_prefix(key)?.trim().strip_suffix("kB")?;
            rest.trim().parse::<f64>().ok().map(|k| k * 1024.0)
        })
    };
    let btime = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())?;
    let max_fds = limits.lines().find_map(|l| {
        let rest = l.strip_prefix("Max open files")?;
        rest.split_whitespace().next()?.parse::<f64>().ok()
    });
    Some(Process {
        cpu_seconds: (utime + stime) / TICKS_PER_SECOND,
        resident_bytes: kib("VmRSS:").unwrap_or(0.0),
        virtual_bytes: kib("VmSize:").unwrap_or(0.0),
        start_time_seconds: btime + start_ticks / TICKS_PER_SECOND,
        open_fds,
        max_fds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_come_from_the_proc_files() {
        let stat = "4242 (drop line) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 9 0 \
                    123400 999 1 18446744073709551615";
        let status = "Name:\tdropline\nVmSize:\t  2000 kB\nVmRSS:\t  1500 kB\n";
        let boot = "cpu  1 2 3\nbtime 1700000000\n";
        let limits = "Limit Soft Hard Units\nMax open files            1024                 4096                 files\n";
        let p = parse(stat, status, boot, limits, 12.0).unwrap();
        assert_eq!(
            p,
            Process {
                cpu_seconds: 3.0,
                resident_bytes: 1_536_000.0,
                virtual_bytes: 2_048_000.0,
                start_time_seconds: 1_700_001_234.0,
                open_fds: 12.0,
                max_fds: Some(1024.0),
            }
        );
        assert_eq!(parse("garbage", status, boot, limits, 1.0), None);
    }
}
