//! The ratios that matter, computed from one run's measurements.

use super::Measurement;
use serde::Serialize;

/// A named quotient of two medians.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ratio {
    pub name: String,
    pub value: f64,
}

/// `numerator` over `denominator`: each a backend and an operation.
struct Spec {
    name: &'static str,
    numerator: (&'static str, &'static str),
    denominator: (&'static str, &'static str),
}

/// Ratios taken at every buffer size the run measured.
const PER_SIZE: &[Spec] = &[
    Spec {
        name: "per-access map / cached access (vgem)",
        numerator: ("vgem", "map_per_access"),
        denominator: ("vgem", "cached_access"),
    },
    Spec {
        name: "per-access map / cached access (vkms)",
        numerator: ("vkms", "map_per_access"),
        denominator: ("vkms", "cached_access"),
    },
    Spec {
        name: "C vmap_local / cached access (vkms)",
        numerator: ("vkms", "c_vmap_local"),
        denominator: ("vkms", "cached_access"),
    },
    Spec {
        name: "C vmap_local / cached movable access (bochs)",
        numerator: ("bochs", "c_vmap_local"),
        denominator: ("bochs-system", "cached_access_movable"),
    },
    Spec {
        name: "fill through guard / raw memset (vgem)",
        numerator: ("vgem", "fill_guard"),
        denominator: ("vgem", "fill_raw"),
    },
    Spec {
        name: "fill through guard / raw memset (bochs VRAM)",
        numerator: ("bochs-vram", "fill_guard"),
        denominator: ("bochs-vram", "fill_raw"),
    },
    Spec {
        name: "copy through guard / raw memcpy (vgem)",
        numerator: ("vgem", "copy_guard"),
        denominator: ("vgem", "copy_raw"),
    },
    Spec {
        name: "full frame, vgem / device allocator (vkms)",
        numerator: ("vkms", "frame_full_flip_vgem"),
        denominator: ("vkms", "frame_full_flip_device"),
    },
    Spec {
        name: "full frame, vgem / device allocator (cirrus)",
        numerator: ("cirrus", "frame_full_flip_vgem"),
        denominator: ("cirrus", "frame_full_flip_device"),
    },
    Spec {
        name: "splash bar frame / full frame (bochs)",
        numerator: ("bochs", "frame_splash_bar_device"),
        denominator: ("bochs", "frame_full_flip_device"),
    },
    Spec {
        name: "cached movable (bochs VRAM) / cached in place (vgem)",
        numerator: ("bochs-vram", "cached_access_movable"),
        denominator: ("vgem", "cached_access"),
    },
];

/// Ratios against the lock floor, measured once (size 0x0).
const AGAINST_FLOOR: &[Spec] = &[
    Spec {
        name: "cached access (vgem) / mutex floor",
        numerator: ("vgem", "cached_access"),
        denominator: ("cpu", "mutex_lock_unlock"),
    },
    Spec {
        name: "cached movable access (bochs VRAM) / mutex floor",
        numerator: ("bochs-vram", "cached_access_movable"),
        denominator: ("cpu", "mutex_lock_unlock"),
    },
];

fn median(
    measurements: &[Measurement],
    (backend, op): (&str, &str),
    size: (u32, u32),
) -> Option<f64> {
    measurements
        .iter()
        .find(|m| m.backend == backend && m.op == op && (m.width, m.height) == size)
        .map(|m| m.median_ns as f64)
}

/// Every ratio whose two medians the run measured, smallest size first.
pub fn compute(measurements: &[Measurement]) -> Vec<Ratio> {
    let mut sizes: Vec<(u32, u32)> = measurements
        .iter()
        .map(|m| (m.width, m.height))
        .filter(|&size| size != (0, 0))
        .collect();
    sizes.sort_unstable_by_key(|&(width, height)| u64::from(width) * u64::from(height));
    sizes.dedup();
    let mut ratios = Vec::new();
    for &size in &sizes {
        for spec in PER_SIZE.iter().chain(AGAINST_FLOOR) {
            let denominator_size = if spec.denominator.0 == "cpu" {
                (0, 0)
            } else {
                size
            };
            let numerator = median(measurements, spec.numerator, size);
            let denominator = median(measurements, spec.denominator, denominator_size);
            if let (Some(numerator), Some(denominator)) = (numerator, denominator) {
                if denominator > 0.0 {
                    ratios.push(Ratio {
                        name: format!("{} at {}x{}", spec.name, size.0, size.1),
                        value: numerator / denominator,
                    });
                }
            }
        }
    }
    ratios
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(backend: &str, size: (u32, u32), op: &str, median_ns: u64) -> Measurement {
        Measurement {
            cpus: 2,
            backend: backend.into(),
            width: size.0,
            height: size.1,
            op: op.into(),
            median_ns,
            p99_ns: median_ns,
            samples: 1,
        }
    }

    #[test]
    fn ratios_pair_medians_of_one_size_and_the_floor() {
        let run = [
            measured("cpu", (0, 0), "mutex_lock_unlock", 50),
            measured("vgem", (640, 480), "cached_access", 200),
            measured("vgem", (640, 480), "map_per_access", 2_000_000),
            measured("vgem", (1920, 1080), "cached_access", 250),
        ];
        let ratios = compute(&run);
        let names: Vec<&str> = ratios.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "per-access map / cached access (vgem) at 640x480",
                "cached access (vgem) / mutex floor at 640x480",
                "cached access (vgem) / mutex floor at 1920x1080",
            ]
        );
        assert_eq!(ratios[0].value, 10_000.0);
        assert_eq!(ratios[1].value, 4.0);
        assert_eq!(ratios[2].value, 5.0);
    }
}
