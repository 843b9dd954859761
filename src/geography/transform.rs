//! British National Grid (EPSG:27700, OSGB36 on the Airy 1830 ellipsoid) to and from WGS84
//! (EPSG:4326): the Ordnance Survey's transverse Mercator formulas and a seven-parameter
//! Helmert datum shift ("A guide to coordinate systems in Great Britain", OS, annexes B and C,
//! section 6.6). The Helmert shift is good to about 5 m anywhere in Great Britain (OS: "at the
//! 5-metre level"); the boundaries are generalised to 200 and 500 m, so that is well inside
//! their own error. OSTN15, which is exact to the centimetre, would add megabytes of grid.

/// Degrees, as `(longitude, latitude)` like GeoJSON.
pub type LonLat = (f64, f64);

struct Ellipsoid {
    a: f64,
    b: f64,
}

const AIRY_1830: Ellipsoid = Ellipsoid {
    a: 6_377_563.396,
    b: 6_356_256.909,
};
const WGS84: Ellipsoid = Ellipsoid {
    a: 6_378_137.0,
    b: 6_356_752.314_245,
};

// The National Grid projection.
const F0: f64 = 0.999_601_271_7;
const LAT0: f64 = 49.0;
const LON0: f64 = -2.0;
const E0: f64 = 400_000.0;
const N0: f64 = -100_000.0;

/// OSGB36 → WGS84: translation (m), rotation (arc seconds), scale (ppm).
const TO_WGS84: Helmert = Helmert {
    t: [446.448, -125.157, 542.060],
    r: [0.1502, 0.2470, 0.8421],
    s_ppm: -20.4894,
};

struct Helmert {
    t: [f64; 3],
    r: [f64; 3],
    s_ppm: f64,
}

impl Helmert {
    fn inverse(&self) -> Helmert {
        Helmert {
            t: [-self.t[0], -self.t[1], -self.t[2]],
            r: [-self.r[0], -self.r[1], -self.r[2]],
            s_ppm: -self.s_ppm,
        }
    }

    fn apply(&self, [x, y, z]: [f64; 3]) -> [f64; 3] {
        let s = 1.0 + self.s_ppm * 1e-6;
        let sec = std::f64::consts::PI / (180.0 * 3600.0);
        let (rx, ry, rz) = (self.r[0] * sec, self.r[1] * sec, self.r[2] * sec);
        [
            self.t[0] + s * x - rz * y + ry * z,
            self.t[1] + rz * x + s * y - rx * z,
            self.t[2] - ry * x + rx * y + s * z,
        ]
    }
}

fn to_cartesian(e: &Ellipsoid, lat: f64, lon: f64) -> [f64; 3] {
    let e2 = 1.0 - (e.b * e.b) / (e.a * e.a);
    let (sin_lat, cos_lat) = lat.sin_cos();
    let nu = e.a / (1.0 - e2 * sin_lat * sin_lat).sqrt();
    [
        nu * cos_lat * lon.cos(),
        nu * cos_lat * lon.sin(),
        (1.0 - e2) * nu * sin_lat,
    ]
}

fn from_cartesian(e: &Ellipsoid, [x, y, z]: [f64; 3]) -> (f64, f64) {
    let e2 = 1.0 - (e.b * e.b) / (e.a * e.a);
    let p = (x * x + y * y).sqrt();
    let mut lat = z.atan2(p * (1.0 - e2));
    // Converges to well under a millimetre in a few rounds.
    for _ in 0..6 {
        let nu = e.a / (1.0 - e2 * lat.sin().powi(2)).sqrt();
        lat = (z + e2 * nu * lat.sin()).atan2(p);
    }
    (lat, y.atan2(x))
}

fn meridional_arc(e: &Ellipsoid, lat: f64) -> f64 {
    let n = (e.a - e.b) / (e.a + e.b);
    let (n2, n3) = (n * n, n * n * n);
    let lat0 = LAT0.to_radians();
    let (d, s) = (lat - lat0, lat + lat0);
    e.b * F0
        * ((1.0 + n + 1.25 * n2 + 1.25 * n3) * d
            - (3.0 * n + 3.0 * n2 + 2.625 * n3) * d.sin() * s.cos()
            + (1.875 * n2 + 1.875 * n3) * (2.0 * d).sin() * (2.0 * s).cos()
            - (35.0 / 24.0) * n3 * (3.0 * d).sin() * (3.0 * s).cos())
}

/// Eastings and northings (m) to OSGB36 latitude and longitude (radians).
fn grid_to_osgb36(east: f64, north: f64) -> (f64, f64) {
    let e = &AIRY_1830;
    let e2 = 1.0 - (e.b * e.b) / (e.a * e.a);
    let mut lat = LAT0.to_radians();
    let mut m = 0.0;
    // OS annex C: iterate until the residual is under 0.01 mm.
    for _ in 0..20 {
        lat += (north - N0 - m) / (e.a * F0);
        m = meridional_arc(e, lat);
        if (north - N0 - m).abs() < 1e-5 {
            break;
        }
    }
    let (sin, cos) = lat.sin_cos();
    let tan = lat.tan();
    let nu = e.a * F0 / (1.0 - e2 * sin * sin).sqrt();
    let rho = e.a * F0 * (1.0 - e2) / (1.0 - e2 * sin * sin).powf(1.5);
    let eta2 = nu / rho - 1.0;
    let (t2, t4, t6) = (tan * tan, tan.powi(4), tan.powi(6));
    let vii = tan / (2.0 * rho * nu);
    let viii = tan / (24.0 * rho * nu.powi(3)) * (5.0 + 3.0 * t2 + eta2 - 9.0 * t2 * eta2);
    let ix = tan / (720.0 * rho * nu.powi(5)) * (61.0 + 90.0 * t2 + 45.0 * t4);
    let x = 1.0 / (cos * nu);
    let xi = 1.0 / (cos * 6.0 * nu.powi(3)) * (nu / rho + 2.0 * t2);
    let xii = 1.0 / (cos * 120.0 * nu.powi(5)) * (5.0 + 28.0 * t2 + 24.0 * t4);
    let xiia = 1.0 / (cos * 5040.0 * nu.powi(7)) * (61.0 + 662.0 * t2 + 1320.0 * t4 + 720.0 * t6);
    let de = east - E0;
    let lat = lat - vii * de.powi(2) + viii * de.powi(4) - ix * de.powi(6);
    let lon = LON0.to_radians() + x * de - xi * de.powi(3) + xii * de.powi(5) - xiia * de.powi(7);
    (lat, lon)
}

/// OSGB36 latitude and longitude (radians) to eastings and northings (m).
fn osgb36_to_grid(lat: f64, lon: f64) -> (f64, f64) {
    let e = &AIRY_1830;
    let e2 = 1.0 - (e.b * e.b) / (e.a * e.a);
    let (sin, cos) = lat.sin_cos();
    let tan = lat.tan();
    let nu = e.a * F0 / (1.0 - e2 * sin * sin).sqrt();
    let rho = e.a * F0 * (1.0 - e2) / (1.0 - e2 * sin * sin).powf(1.5);
    let eta2 = nu / rho - 1.0;
    let m = meridional_arc(e, lat);
    let t2 = tan * tan;
    let i = m + N0;
    let ii = nu / 2.0 * sin * cos;
    let iii = nu / 24.0 * sin * cos.powi(3) * (5.0 - t2 + 9.0 * eta2);
    let iiia = nu / 720.0 * sin * cos.powi(5) * (61.0 - 58.0 * t2 + t2 * t2);
    let iv = nu * cos;
    let v = nu / 6.0 * cos.powi(3) * (nu / rho - t2);
    let vi =
        nu / 120.0 * cos.powi(5) * (5.0 - 18.0 * t2 + t2 * t2 + 14.0 * eta2 - 58.0 * t2 * eta2);
    let dl = lon - LON0.to_radians();
    let north = i + ii * dl.powi(2) + iii * dl.powi(4) + iiia * dl.powi(6);
    let east = E0 + iv * dl + v * dl.powi(3) + vi * dl.powi(5);
    (east, north)
}

/// British National Grid easting and northing (m) to WGS84 `(longitude, latitude)` degrees.
pub fn bng_to_wgs84(east: f64, north: f64) -> LonLat {
    let (lat, lon) = grid_to_osgb36(east, north);
    let xyz = TO_WGS84.apply(to_cartesian(&AIRY_1830, lat, lon));
    let (lat, lon) = from_cartesian(&WGS84, xyz);
    (lon.to_degrees(), lat.to_degrees())
}

/// WGS84 `(longitude, latitude)` degrees to British National Grid easting and northing (m).
pub fn wgs84_to_bng((lon, lat): LonLat) -> (f64, f64) {
    let xyz = TO_WGS84
        .inverse()
        .apply(to_cartesian(&WGS84, lat.to_radians(), lon.to_radians()));
    let (lat, lon) = from_cartesian(&AIRY_1830, xyz);
    osgb36_to_grid(lat, lon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metres(a: LonLat, b: LonLat) -> f64 {
        let dy = (a.1 - b.1) * 111_200.0;
        let dx = (a.0 - b.0) * 111_200.0 * a.1.to_radians().cos();
        (dx * dx + dy * dy).sqrt()
    }

    #[test]
    fn os_worked_example_of_the_projection() {
        // OS guide, annex C: 52°39'27.2531"N 1°43'4.5177"E on OSGB36 is E 651409.903,
        // N 313177.270.
        let lat = (52.0 + 39.0 / 60.0 + 27.2531 / 3600.0_f64).to_radians();
        let lon = (1.0 + 43.0 / 60.0 + 4.5177 / 3600.0_f64).to_radians();
        let (e, n) = osgb36_to_grid(lat, lon);
        assert!((e - 651_409.903).abs() < 0.01 && (n - 313_177.270).abs() < 0.01);
        let (lat2, lon2) = grid_to_osgb36(651_409.903, 313_177.270);
        assert!((lat2 - lat).abs() < 1e-9 && (lon2 - lon).abs() < 1e-9);
    }

    #[test]
    fn the_ons_label_points_agree_within_five_metres() {
        // ONS gives each boundary's label point in both systems (computed with OSTN15).
        let cases = [
            // Cheshire and Merseyside ICB, London region, Betsi Cadwaladr, Scotland.
            (374_405.0, 380_936.0, (-2.38572, 53.3247)),
            (517_515.0, 178_392.0, (-0.30866, 51.4923)),
            (282_470.0, 346_124.0, (-3.75275, 52.99951)),
            (277_744.0, 700_060.0, (-3.97094, 56.1774)),
        ];
        for (e, n, expected) in cases {
            let got = bng_to_wgs84(e, n);
            assert!(metres(got, expected) < 5.0, "{got:?} vs {expected:?}");
        }
    }

    #[test]
    fn round_trip_is_exact_to_a_centimetre() {
        for (e, n) in [
            (100_000.0, 50_000.0),
            (530_000.0, 180_000.0),
            (300_000.0, 1_000_000.0),
        ] {
            let (e2, n2) = wgs84_to_bng(bng_to_wgs84(e, n));
            assert!((e2 - e).abs() < 1e-2 && (n2 - n).abs() < 1e-2, "{e2} {n2}");
        }
    }
}
