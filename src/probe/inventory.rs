//! What NVML sees: driver, CUDA driver version, and each GPU.

use nvml_wrapper::enum_wrappers::device::Clock;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;
use serde::{Deserialize, Serialize};

use super::ProbeError;

/// NVML_NVLINK_MAX_LINKS in nvml.h (driver 580).
const NVLINK_MAX_LINKS: u32 = 18;

/// The machine's NVIDIA driver and GPUs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// Driver version, e.g. "580.159.04".
    pub driver_version: String,
    /// CUDA version the driver supports, e.g. "13.0".
    pub cuda_driver_version: String,
    /// NVML library version.
    pub nvml_version: String,
    /// GPUs in NVML index order.
    pub gpus: Vec<GpuInfo>,
}

/// One GPU. Fields NVML does not support on a device are `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// NVML index.
    pub index: u32,
    /// Name, e.g. "NVIDIA H200".
    pub name: String,
    /// UUID, e.g. "GPU-…".
    pub uuid: String,
    /// Compute capability (major, minor).
    pub compute_capability: Option<(i32, i32)>,
    /// Installed memory, bytes.
    pub memory_total_bytes: u64,
    /// Unallocated memory, bytes.
    pub memory_free_bytes: u64,
    /// Allocated memory, bytes.
    pub memory_used_bytes: u64,
    /// Memory bus width, bits.
    pub memory_bus_width_bits: Option<u32>,
    /// SM clock now, MHz.
    pub sm_clock_mhz: Option<u32>,
    /// SM clock maximum, MHz.
    pub sm_clock_max_mhz: Option<u32>,
    /// Memory clock now, MHz.
    pub mem_clock_mhz: Option<u32>,
    /// Memory clock maximum, MHz.
    pub mem_clock_max_mhz: Option<u32>,
    /// PCIe generation now.
    pub pcie_gen: Option<u32>,
    /// PCIe generation maximum.
    pub pcie_gen_max: Option<u32>,
    /// PCIe lanes now.
    pub pcie_width: Option<u32>,
    /// PCIe lanes maximum.
    pub pcie_width_max: Option<u32>,
    /// Enforced power limit, watts.
    pub power_limit_w: Option<f64>,
    /// NVLink links reported active (0 where NVLink is absent).
    pub nvlink_active_links: u32,
}

fn nvml_error(during: &str, e: NvmlError) -> ProbeError {
    match e {
        NvmlError::LibloadingError(_) | NvmlError::LibraryNotFound => ProbeError::MissingLibrary {
            library: "libnvidia-ml.so.1 (NVIDIA driver)".into(),
            hint: "no NVIDIA driver on this machine; install the NVIDIA driver (it ships NVML) on a machine with an NVIDIA GPU".into(),
        },
        NvmlError::DriverNotLoaded => ProbeError::MissingLibrary {
            library: "nvidia kernel module".into(),
            hint: "the NVIDIA driver is installed but not loaded; load it (modprobe nvidia) or reboot".into(),
        },
        NvmlError::NoPermission => ProbeError::Nvml {
            during: during.into(),
            message: "no permission to query the GPU (check /dev/nvidia* access)".into(),
        },
        other => ProbeError::Nvml {
            during: during.into(),
            message: other.to_string(),
        },
    }
}

/// Driver and GPUs as NVML reports them. On a machine without the NVIDIA
/// driver this is a [`ProbeError::MissingLibrary`], not a panic.
pub fn inventory() -> Result<Inventory, ProbeError> {
    let nvml = Nvml::init().map_err(|e| nvml_error("initialising NVML", e))?;
    let driver_version = nvml
        .sys_driver_version()
        .map_err(|e| nvml_error("reading the driver version", e))?;
    let cuda = nvml
        .sys_cuda_driver_version()
        .map_err(|e| nvml_error("reading the CUDA driver version", e))?;
    let cuda_driver_version = format!(
        "{}.{}",
        nvml_wrapper::cuda_driver_version_major(cuda),
        nvml_wrapper::cuda_driver_version_minor(cuda)
    );
    let nvml_version = nvml.sys_nvml_version().unwrap_or_default();
    let count = nvml
        .device_count()
        .map_err(|e| nvml_error("counting GPUs", e))?;
    let mut gpus = Vec::with_capacity(count as usize);
    for i in 0..count {
        let d = nvml
            .device_by_index(i)
            .map_err(|e| nvml_error(&format!("opening GPU {i}"), e))?;
        let mem = d
            .memory_info()
            .map_err(|e| nvml_error(&format!("reading GPU {i} memory"), e))?;
        let nvlink_active_links = (0..NVLINK_MAX_LINKS)
            .filter(|&l| d.link_wrapper_for(l).is_active().unwrap_or(false))
            .count() as u32;
        gpus.push(GpuInfo {
            index: i,
            name: d.name().unwrap_or_default(),
            uuid: d.uuid().unwrap_or_default(),
            compute_capability: d.cuda_compute_capability().ok().map(|c| (c.major, c.minor)),
            memory_total_bytes: mem.total,
            memory_free_bytes: mem.free,
            memory_used_bytes: mem.used,
            memory_bus_width_bits: d.memory_bus_width().ok(),
            sm_clock_mhz: d.clock_info(Clock::SM).ok(),
            sm_clock_max_mhz: d.max_clock_info(Clock::SM).ok(),
            mem_clock_mhz: d.clock_info(Clock::Memory).ok(),
            mem_clock_max_mhz: d.max_clock_info(Clock::Memory).ok(),
            pcie_gen: d.current_pcie_link_gen().ok(),
            pcie_gen_max: d.max_pcie_link_gen().ok(),
            pcie_width: d.current_pcie_link_width().ok(),
            pcie_width_max: d.max_pcie_link_width().ok(),
            power_limit_w: d.enforced_power_limit().ok().map(|mw| mw as f64 / 1000.0),
            nvlink_active_links,
        });
    }
    Ok(Inventory {
        driver_version,
        cuda_driver_version,
        nvml_version,
        gpus,
    })
}

impl Inventory {
    /// A plain-text table, one GPU per line (memory in GiB).
    pub fn table(&self) -> String {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        let opt = |x: Option<u32>| x.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        let mut s = format!(
            "driver {}, CUDA {}, {} GPU(s)\n{:>3}  {:<22} {:>10} {:>10} {:>11} {:>11} {:>8} {:>7} {:>6}\n",
            self.driver_version,
            self.cuda_driver_version,
            self.gpus.len(),
            "idx",
            "name",
            "total GiB",
            "free GiB",
            "SM MHz",
            "mem MHz",
            "PCIe",
            "power W",
            "NVLink"
        );
        for g in &self.gpus {
            s.push_str(&format!(
                "{:>3}  {:<22} {:>10.1} {:>10.1} {:>11} {:>11} {:>8} {:>7} {:>6}\n",
                g.index,
                g.name,
                gib(g.memory_total_bytes),
                gib(g.memory_free_bytes),
                format!("{}/{}", opt(g.sm_clock_mhz), opt(g.sm_clock_max_mhz)),
                format!("{}/{}", opt(g.mem_clock_mhz), opt(g.mem_clock_max_mhz)),
                format!("G{}x{}", opt(g.pcie_gen), opt(g.pcie_width)),
                g.power_limit_w
                    .map(|w| format!("{w:.0}"))
                    .unwrap_or_else(|| "-".into()),
                g.nvlink_active_links
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_each_gpu() {
        let inv = Inventory {
            driver_version: "580.159.04".into(),
            cuda_driver_version: "13.0".into(),
            nvml_version: "13.580".into(),
            gpus: vec![GpuInfo {
                index: 0,
                name: "NVIDIA H200".into(),
                uuid: "GPU-x".into(),
                compute_capability: Some((9, 0)),
                memory_total_bytes: 150_754_820_096,
                memory_free_bytes: 150_000_000_000,
                memory_used_bytes: 754_820_096,
                memory_bus_width_bits: Some(6016),
                sm_clock_mhz: Some(345),
                sm_clock_max_mhz: Some(1980),
                mem_clock_mhz: Some(3201),
                mem_clock_max_mhz: Some(3201),
                pcie_gen: Some(5),
                pcie_gen_max: Some(5),
                pcie_width: Some(16),
                pcie_width_max: Some(16),
                power_limit_w: Some(700.0),
                nvlink_active_links: 0,
            }],
        };
        let t = inv.table();
        assert!(t.contains("NVIDIA H200"));
        assert!(t.contains("140.4"));
        assert!(t.contains("G5x16"));
        let json = serde_json::to_string(&inv).unwrap();
        let back: Inventory = serde_json::from_str(&json).unwrap();
        assert_eq!(back, inv);
    }

    #[test]
    fn inventory_without_driver_is_a_clean_error() {
        match inventory() {
            Ok(inv) => eprintln!("NVML present: {} GPU(s)", inv.gpus.len()),
            Err(e) => {
                let s = e.to_string();
                assert!(
                    s.contains("libnvidia-ml") || s.contains("kernel module") || s.contains("NVML"),
                    "{s}"
                );
            }
        }
    }
}
