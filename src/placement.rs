//! Where a site belongs in the hierarchy: its parent kind, country, ICB and NHS England region,
//! OPEN UK network and PDU, what a hand edit of its memberships leads to, and a unit's lead
//! site. These rules live here and nowhere else: the seed, the mergers and the sync gather the
//! facts (from the reference data, the database and ORD) and apply the answer.
//!
//! Pure: no database, no async, codes only (callers turn codes into row ids). Explained in
//! `docs/seeding.md`, `docs/mergers.md` and `docs/sync.md`.
use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;

use crate::memberships::Edge;
use crate::reference_data::{IcbLookupRow, OpenUkNetworkTrust, PzCodeNetwork};

pub const ENGLAND: &str = "E92000001";
pub const WALES: &str = "W92000004";
/// Project-local code for Jersey (not an ONS code).
pub const JERSEY: &str = "E92000003";
/// Jersey General Hospital: operated under an English trust, but not in NHS England geography.
pub const JERSEY_SITE: &str = "RGT1W";
/// The lead site of multi-site PDUs, as upstream names them.
pub const PDU_LEADS: [(&str, &str); 6] = [
    ("PZ024", "RVV01"),
    ("PZ050", "RVR07"),
    ("PZ099", "RWH01"),
    ("PZ136", "R0A03"),
    ("PZ206", "RM321"),
    ("PZ230", "RXC01"),
];

/// A site's parent: an NHS trust or a (Welsh) Local Health Board.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ParentKind {
    Trust,
    Board,
}

impl ParentKind {
    /// The membership edge of this kind of parent.
    pub fn edge(self) -> Edge {
        match self {
            ParentKind::Trust => Edge::OrganisationTrust,
            ParentKind::Board => Edge::OrganisationLocalHealthBoard,
        }
    }
}

/// What a parent code is, given what we hold. Boards first: Powys (7A7) is in both lists and
/// its sites are Welsh.
pub fn parent_kind(is_board: bool, is_trust: bool) -> Option<ParentKind> {
    if is_board {
        Some(ParentKind::Board)
    } else if is_trust {
        Some(ParentKind::Trust)
    } else {
        None
    }
}

/// What a parent's other current sites have on one edge; sites without one have no say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Agreement {
    #[default]
    None,
    One(String),
    Disagree,
}

impl Agreement {
    /// From the codes the other sites have on the edge.
    pub fn of<S: AsRef<str>>(codes: impl IntoIterator<Item = S>) -> Self {
        let distinct: BTreeSet<String> = codes.into_iter().map(|c| c.as_ref().into()).collect();
        let mut it = distinct.into_iter();
        match (it.next(), it.next()) {
            (None, _) => Agreement::None,
            (Some(one), None) => Agreement::One(one),
            _ => Agreement::Disagree,
        }
    }

    /// The code they agree on, if they do.
    pub fn agreed(&self) -> Option<&str> {
        match self {
            Agreement::One(c) => Some(c),
            _ => None,
        }
    }
}

/// The facts about a site that decide its country.
#[derive(Clone, Copy, Debug, Default)]
pub struct SiteFacts<'a> {
    pub code: &'a str,
    pub parent: Option<ParentKind>,
    /// The parent trust's own record puts it in Wales (a few do, e.g. RT4).
    pub parent_in_wales: bool,
    /// The site's address country and postcode, when known.
    pub address_country: Option<&'a str>,
    pub postcode: Option<&'a str>,
    /// The country the site has now (none for a new site).
    pub current_country: Option<&'a str>,
}

/// Whether an address is in Jersey: its country says so, or its postcode is a JE one.
pub fn in_jersey(country: Option<&str>, postcode: Option<&str>) -> bool {
    let by_country = country.is_some_and(|c| c.to_ascii_uppercase().contains("JERSEY"));
    let by_postcode = postcode.is_some_and(|p| {
        let p = p.trim().to_ascii_uppercase();
        p.strip_prefix("JE")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    });
    by_country || by_postcode
}

/// Jersey by its one known site, its address, or its country now (Jersey sites stay Jersey).
fn is_jersey(site: &SiteFacts) -> bool {
    site.code == JERSEY_SITE
        || in_jersey(site.address_country, site.postcode)
        || site.current_country == Some(JERSEY)
}

/// The site's country: Wales under a board or a Welsh trust; Jersey for Jersey sites; England
/// under any other trust. A site without a parent takes its address's country, if any.
pub fn country(site: &SiteFacts) -> Option<&'static str> {
    let jersey = is_jersey(site);
    match site.parent {
        Some(ParentKind::Board) => Some(WALES),
        Some(ParentKind::Trust) if jersey => Some(JERSEY),
        Some(ParentKind::Trust) if site.parent_in_wales => Some(WALES),
        Some(ParentKind::Trust) => Some(ENGLAND),
        None if jersey => Some(JERSEY),
        None => match site.address_country.map(str::to_ascii_uppercase).as_deref() {
            Some("ENGLAND") => Some(ENGLAND),
            Some("WALES") => Some(WALES),
            _ => None,
        },
    }
}

/// Only English sites under a trust have an ICB and region: Welsh sites, Jersey and sites
/// without a parent have none.
pub fn has_nhs_england_geography(country: Option<&str>, parent: Option<ParentKind>) -> bool {
    country == Some(ENGLAND) && parent == Some(ParentKind::Trust)
}

/// The ICBs we hold, each with its NHS England region when it has one.
pub type IcbRegions = HashMap<String, Option<String>>;

/// The facts about a site's trust that decide its ICB and region.
#[derive(Clone, Debug, Default)]
pub struct TrustFacts<'a> {
    pub code: &'a str,
    /// What the trust's other current sites agree on.
    pub sites_icb: Agreement,
    pub sites_region: Agreement,
    /// The trust's active RE5 ICB in ORD (none when ORD was not asked or names none).
    pub ord_icb: Option<&'a str>,
    /// The trust's ICB in the bundled lookup (`listed_icb`).
    pub listed_icb: Option<&'a str>,
}

/// An English site's ICB and region (either may stay unknown), with why not when unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Geography {
    pub icb: Option<String>,
    pub region: Option<String>,
    pub warnings: Vec<String>,
}

/// The ICB the trust's other current sites agree on, with the region they agree on (else that
/// ICB's own); else the trust's active RE5 ICB in ORD; else its row in the bundled lookup; each
/// of the last two with that ICB's region. An ICB we do not hold gives none, with a warning.
pub fn trust_geography(trust: &TrustFacts, icbs: &IcbRegions) -> Geography {
    let mut geo = Geography::default();
    let from_sites = trust.sites_icb.agreed();
    let (icb, source) = match (from_sites, trust.ord_icb, trust.listed_icb) {
        (Some(icb), _, _) => (icb, "its sites"),
        (None, Some(icb), _) => (icb, "ORD"),
        (None, None, Some(icb)) => (icb, "the bundled ICB lookup"),
        (None, None, None) => return geo,
    };
    let Some(own_region) = icbs.get(icb) else {
        geo.warnings.push(format!(
            "{source} puts trust {} in ICB {icb}, which is not in our data",
            trust.code
        ));
        return geo;
    };
    // The sites' region only goes with the sites' ICB.
    let agreed_region = from_sites.and(trust.sites_region.agreed());
    geo.region = agreed_region
        .map(str::to_string)
        .or_else(|| own_region.clone());
    geo.icb = Some(icb.to_string());
    geo
}

/// A trust's ICB in the bundled lookup: the last row wins, as upstream (33 trusts have several).
pub fn listed_icb<'a>(rows: &'a [IcbLookupRow], trust: &str) -> Option<&'a str> {
    rows.iter()
        .rev()
        .find(|r| r.ods_trust_code == trust)
        .map(|r| r.ods_icb_code.as_str())
}

/// A parent's OPEN UK network in the bundled list: the last row wins (RN3 is listed twice).
pub fn listed_network<'a>(rows: &'a [OpenUkNetworkTrust], parent: &str) -> Option<&'a str> {
    rows.iter()
        .rev()
        .find(|r| r.ods_trust_code == parent)
        .map(|r| r.open_uk_network_code.as_str())
}

/// A site's PDU in the bundled PZ list: its own row, else its parent's; the first row wins.
pub fn listed_pdu<'a>(
    rows: &'a [PzCodeNetwork],
    site: &str,
    parent: Option<&str>,
) -> Option<&'a str> {
    rows.iter()
        .find(|r| r.ods_code == site)
        .or_else(|| parent.and_then(|p| rows.iter().find(|r| r.ods_code == p)))
        .map(|r| r.npda_code.as_str())
}

/// The OPEN UK network the parent's other current sites agree on, else the listed one.
pub fn network(sites: &Agreement, listed: Option<&str>) -> Option<String> {
    sites.agreed().or(listed).map(str::to_string)
}

/// Everything that places a new (or re-added) site.
#[derive(Clone, Debug, Default)]
pub struct NewSite<'a> {
    pub site: SiteFacts<'a>,
    pub parent_code: Option<&'a str>,
    /// Asked only for an English site under a trust.
    pub trust: TrustFacts<'a>,
    pub network_sites: Agreement,
    pub listed_network: Option<&'a str>,
    pub listed_pdu: Option<&'a str>,
}

/// Where a site goes: the parent code on each edge (none = no membership).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    pub parent: Option<(ParentKind, String)>,
    pub country: Option<&'static str>,
    pub icb: Option<String>,
    pub region: Option<String>,
    pub network: Option<String>,
    pub pdu: Option<String>,
    pub warnings: Vec<String>,
}

impl Placement {
    /// The memberships, in the order the seed writes them.
    pub fn edges(&self) -> Vec<(Edge, String)> {
        let parent = self.parent.as_ref().map(|(k, c)| (k.edge(), c.clone()));
        let rest = [
            (Edge::OrganisationCountry, self.country.map(str::to_string)),
            (Edge::OrganisationIntegratedCareBoard, self.icb.clone()),
            (Edge::OrganisationNhsEnglandRegion, self.region.clone()),
            (Edge::OrganisationOpenUkNetwork, self.network.clone()),
            (Edge::OrganisationPaediatricDiabetesUnit, self.pdu.clone()),
        ];
        parent
            .into_iter()
            .chain(rest.into_iter().filter_map(|(e, c)| c.map(|c| (e, c))))
            .collect()
    }
}

/// Places a new site: parent, country, geography (English trust sites only), network (from
/// the parent) and PDU.
pub fn place(new: &NewSite, icbs: &IcbRegions) -> Placement {
    let country = country(&new.site);
    let parent = new.site.parent.zip(new.parent_code);
    let mut out = Placement {
        parent: parent.map(|(k, c)| (k, c.to_string())),
        country,
        pdu: new.listed_pdu.map(str::to_string),
        ..Default::default()
    };
    if parent.is_some() {
        out.network = network(&new.network_sites, new.listed_network);
    }
    if has_nhs_england_geography(country, new.site.parent) {
        let geo = trust_geography(&new.trust, icbs);
        out.icb = geo.icb;
        out.region = geo.region;
        out.warnings = geo.warnings;
    }
    out
}

/// Edges a re-added site gets back from before its deletion (ORD knows nothing of them).
pub const RESTORED_EDGES: [Edge; 3] = [
    Edge::OrganisationPaediatricDiabetesUnit,
    Edge::OrganisationOpenUkNetwork,
    Edge::OrganisationLondonBorough,
];

/// Whether a re-added site gets back a membership that ended `valid_to` (none = open): one it
/// still had when it was deleted on `deleted_on`.
pub fn had_when_deleted(valid_to: Option<NaiveDate>, deleted_on: Option<NaiveDate>) -> bool {
    match (valid_to, deleted_on) {
        (None, _) => true,
        (Some(to), Some(on)) => to >= on,
        (Some(_), None) => false,
    }
}

/// One membership of a hand edit: leave it, close it, or make this code the current one.
/// Requests carry a typed code (`Setting<OdsCode>`); the rules here compare text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Setting<T = String> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T: AsRef<str>> Setting<T> {
    /// The same setting with the code as text.
    pub fn to_text(&self) -> Setting {
        match self {
            Setting::Keep => Setting::Keep,
            Setting::Clear => Setting::Clear,
            Setting::Set(c) => Setting::Set(c.as_ref().to_owned()),
        }
    }
}

/// A site moving to a new parent in a hand edit: the parent, and its country and geography.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    pub parent: (ParentKind, String),
    pub country: Option<&'static str>,
    /// Asked only when the site is English and its ICB is not given.
    pub geography: Geography,
}

/// A hand edit of one site's memberships: `settings` for the plain edges (PDU, network,
/// borough, ICB, region) and the parent.
#[derive(Clone, Debug, Default)]
pub struct Edit<'a> {
    /// The site's current memberships.
    pub current: HashMap<Edge, String>,
    pub settings: &'a [(Edge, Setting)],
    pub clear_parent: bool,
    pub moved: Option<Move>,
}

impl Edit<'_> {
    fn given(&self, edge: Edge) -> Option<&Setting> {
        self.settings
            .iter()
            .find(|(e, s)| *e == edge && *s != Setting::Keep)
            .map(|(_, s)| s)
    }
}

/// The memberships after a hand edit, and warnings. Plain edges are as given; a new parent
/// brings its country, and its geography unless given (none outside England); a new ICB
/// brings its region unless one is given; an ICB and region that disagree get a warning.
pub fn edit(e: &Edit, icbs: &IcbRegions) -> (HashMap<Edge, String>, Vec<String>) {
    let mut planned = e.current.clone();
    let mut warnings = Vec::new();
    for (edge, setting) in e.settings {
        match setting {
            Setting::Keep => {}
            Setting::Clear => {
                planned.remove(edge);
            }
            Setting::Set(c) => {
                planned.insert(*edge, c.clone());
            }
        }
    }
    if e.clear_parent || e.moved.is_some() {
        planned.remove(&Edge::OrganisationTrust);
        planned.remove(&Edge::OrganisationLocalHealthBoard);
    }
    if let Some(m) = &e.moved {
        warnings.extend(moved(e, m, &mut planned));
    }
    region_follows_icb(e, icbs, &mut planned);
    warnings.extend(mismatch(&planned, icbs));
    (planned, warnings)
}

/// A new parent's country and geography, where not given in the same edit.
fn moved(e: &Edit, m: &Move, planned: &mut HashMap<Edge, String>) -> Vec<String> {
    let (kind, code) = &m.parent;
    planned.insert(kind.edge(), code.clone());
    if let Some(c) = m.country {
        planned.insert(Edge::OrganisationCountry, c.to_string());
    }
    let geo = has_nhs_england_geography(m.country, Some(*kind));
    let icb_given = e.given(Edge::OrganisationIntegratedCareBoard).is_some();
    let region_given = e.given(Edge::OrganisationNhsEnglandRegion).is_some();
    if !geo || !icb_given {
        let g = if geo {
            m.geography.clone()
        } else {
            Geography::default()
        };
        if !icb_given {
            set_or_clear(planned, Edge::OrganisationIntegratedCareBoard, g.icb);
        }
        if !region_given {
            set_or_clear(planned, Edge::OrganisationNhsEnglandRegion, g.region);
        }
        return g.warnings;
    }
    Vec::new()
}

fn set_or_clear(planned: &mut HashMap<Edge, String>, edge: Edge, code: Option<String>) {
    match code {
        Some(c) => planned.insert(edge, c),
        None => planned.remove(&edge),
    };
}

/// A hand-set new ICB brings its own region unless a region is given.
fn region_follows_icb(e: &Edit, icbs: &IcbRegions, planned: &mut HashMap<Edge, String>) {
    let Some(Setting::Set(icb)) = e.given(Edge::OrganisationIntegratedCareBoard) else {
        return;
    };
    let changed = e.current.get(&Edge::OrganisationIntegratedCareBoard) != Some(icb);
    if !changed || e.given(Edge::OrganisationNhsEnglandRegion).is_some() {
        return;
    }
    if let Some(Some(region)) = icbs.get(icb) {
        planned.insert(Edge::OrganisationNhsEnglandRegion, region.clone());
    }
}

/// Says so when the planned ICB belongs to another region than the planned one.
fn mismatch(planned: &HashMap<Edge, String>, icbs: &IcbRegions) -> Option<String> {
    let icb = planned.get(&Edge::OrganisationIntegratedCareBoard)?;
    let region = planned.get(&Edge::OrganisationNhsEnglandRegion)?;
    let own = icbs.get(icb)?.as_ref()?;
    (own != region).then(|| format!("ICB {icb} belongs to another region than {region}"))
}

/// The upstream name of a unit's lead site, if it has one.
pub fn named_lead(pz: &str) -> Option<&'static str> {
    PDU_LEADS.iter().find(|(u, _)| *u == pz).map(|(_, s)| *s)
}

/// A unit's lead among its sites (given by name): the named lead while it is one of them, else
/// the first (the only one, for a one-site unit).
pub fn lead_site<T>(sites: &[T], is_named: impl Fn(&T) -> bool) -> Option<&T> {
    sites.iter().find(|s| is_named(s)).or_else(|| sites.first())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icbs() -> IcbRegions {
        [
            ("QKS", Some("Y59")),
            ("QKK", Some("Y56")),
            ("QRV", Some("Y56")),
            ("QXX", None),
        ]
        .into_iter()
        .map(|(i, r)| (i.to_string(), r.map(str::to_string)))
        .collect()
    }

    fn site(parent: Option<ParentKind>) -> SiteFacts<'static> {
        SiteFacts {
            code: "RVV99",
            parent,
            ..Default::default()
        }
    }

    fn trust<'a>() -> TrustFacts<'a> {
        TrustFacts {
            code: "RVV",
            ..Default::default()
        }
    }

    #[test]
    fn boards_come_before_trusts() {
        assert_eq!(parent_kind(true, true), Some(ParentKind::Board));
        assert_eq!(parent_kind(false, true), Some(ParentKind::Trust));
        assert_eq!(parent_kind(false, false), None);
    }

    #[test]
    fn agreement_is_one_code_none_or_a_disagreement() {
        assert_eq!(Agreement::of(Vec::<String>::new()), Agreement::None);
        assert_eq!(Agreement::of(["QKS", "QKS"]), Agreement::One("QKS".into()));
        assert_eq!(Agreement::of(["QKS", "QKK"]), Agreement::Disagree);
        assert_eq!(Agreement::Disagree.agreed(), None);
    }

    #[test]
    fn boards_are_welsh_and_trusts_english() {
        assert_eq!(country(&site(Some(ParentKind::Board))), Some(WALES));
        assert_eq!(country(&site(Some(ParentKind::Trust))), Some(ENGLAND));
    }

    #[test]
    fn a_welsh_trust_makes_its_sites_welsh() {
        let s = SiteFacts {
            parent_in_wales: true,
            ..site(Some(ParentKind::Trust))
        };
        assert_eq!(country(&s), Some(WALES));
        assert!(!has_nhs_england_geography(country(&s), s.parent));
    }

    #[test]
    fn jersey_by_site_address_postcode_or_current_country() {
        let trust = Some(ParentKind::Trust);
        let by_code = SiteFacts {
            code: JERSEY_SITE,
            ..site(trust)
        };
        let by_postcode = SiteFacts {
            postcode: Some(" je1 3qs"),
            ..site(trust)
        };
        let by_country = SiteFacts {
            address_country: Some("Jersey"),
            ..site(trust)
        };
        let stays = SiteFacts {
            current_country: Some(JERSEY),
            ..site(trust)
        };
        for s in [by_code, by_postcode, by_country, stays] {
            assert_eq!(country(&s), Some(JERSEY), "{s:?}");
        }
        // A JE that is not followed by a digit is not a Jersey postcode.
        assert!(!in_jersey(None, Some("JEX 1AA")));
        // Under a board, the board decides.
        let board = SiteFacts {
            current_country: Some(JERSEY),
            ..site(Some(ParentKind::Board))
        };
        assert_eq!(country(&board), Some(WALES));
    }

    #[test]
    fn a_site_without_a_parent_takes_its_address_country() {
        let with = |c: Option<&'static str>| SiteFacts {
            address_country: c,
            ..site(None)
        };
        assert_eq!(country(&with(Some("england"))), Some(ENGLAND));
        assert_eq!(country(&with(Some("WALES"))), Some(WALES));
        assert_eq!(country(&with(Some("SCOTLAND"))), None);
        assert_eq!(country(&with(None)), None);
    }

    #[test]
    fn only_english_trust_sites_have_geography() {
        let trust = Some(ParentKind::Trust);
        assert!(has_nhs_england_geography(Some(ENGLAND), trust));
        assert!(!has_nhs_england_geography(Some(JERSEY), trust));
        assert!(!has_nhs_england_geography(Some(WALES), trust));
        assert!(!has_nhs_england_geography(Some(ENGLAND), None));
    }

    #[test]
    fn the_sites_icb_and_region_come_first() {
        let t = TrustFacts {
            sites_icb: Agreement::One("QKS".into()),
            sites_region: Agreement::One("Y56".into()),
            ord_icb: Some("QKK"),
            listed_icb: Some("QRV"),
            ..trust()
        };
        let g = trust_geography(&t, &icbs());
        assert_eq!(g.icb.as_deref(), Some("QKS"));
        // The sites' region, even where it is not the ICB's own.
        assert_eq!(g.region.as_deref(), Some("Y56"));
    }

    #[test]
    fn sites_that_disagree_on_the_region_give_the_icbs_own() {
        let t = TrustFacts {
            sites_icb: Agreement::One("QKS".into()),
            sites_region: Agreement::Disagree,
            ..trust()
        };
        assert_eq!(trust_geography(&t, &icbs()).region.as_deref(), Some("Y59"));
    }

    #[test]
    fn then_ord_then_the_bundled_lookup_with_the_icbs_region() {
        let t = TrustFacts {
            sites_icb: Agreement::Disagree,
            sites_region: Agreement::One("Y59".into()),
            ord_icb: Some("QKK"),
            listed_icb: Some("QKS"),
            ..trust()
        };
        let g = trust_geography(&t, &icbs());
        assert_eq!(
            (g.icb.as_deref(), g.region.as_deref()),
            (Some("QKK"), Some("Y56"))
        );
        let listed = TrustFacts { ord_icb: None, ..t };
        let g = trust_geography(&listed, &icbs());
        assert_eq!(
            (g.icb.as_deref(), g.region.as_deref()),
            (Some("QKS"), Some("Y59"))
        );
        assert_eq!(trust_geography(&trust(), &icbs()), Geography::default());
    }

    #[test]
    fn an_icb_we_do_not_hold_gives_none_with_a_warning() {
        let t = TrustFacts {
            ord_icb: Some("QZZ"),
            listed_icb: Some("QKS"),
            ..trust()
        };
        let g = trust_geography(&t, &icbs());
        assert_eq!((g.icb, g.region), (None, None));
        assert_eq!(
            g.warnings,
            ["ORD puts trust RVV in ICB QZZ, which is not in our data"]
        );
        // An ICB without a region: the ICB alone.
        let t = TrustFacts {
            ord_icb: Some("QXX"),
            ..trust()
        };
        let g = trust_geography(&t, &icbs());
        assert_eq!((g.icb.as_deref(), g.region), (Some("QXX"), None));
    }

    fn lookup(rows: &[(&str, &str)]) -> Vec<IcbLookupRow> {
        rows.iter()
            .map(|(t, i)| IcbLookupRow {
                nhs_england_region_code: String::new(),
                ods_icb_code: i.to_string(),
                ods_trust_code: t.to_string(),
            })
            .collect()
    }

    #[test]
    fn bundled_icbs_and_networks_last_row_wins() {
        let rows = lookup(&[("RP5", "QF7"), ("RP5", "QT1"), ("RVV", "QKS")]);
        assert_eq!(listed_icb(&rows, "RP5"), Some("QT1"));
        assert_eq!(listed_icb(&rows, "RZZ"), None);
        let nets: Vec<OpenUkNetworkTrust> = [("RN3", "ORENG"), ("RN3", "WPNN")]
            .iter()
            .map(|(t, n)| OpenUkNetworkTrust {
                ods_trust_code: t.to_string(),
                open_uk_network_code: n.to_string(),
            })
            .collect();
        assert_eq!(listed_network(&nets, "RN3"), Some("WPNN"));
    }

    #[test]
    fn pdu_own_row_then_parent_row_first_row_wins() {
        let rows: Vec<PzCodeNetwork> = [("RC971", "PZ010"), ("RVV", "PZ024"), ("RVV", "PZ999")]
            .iter()
            .map(|(o, p)| PzCodeNetwork {
                ods_code: o.to_string(),
                npda_code: p.to_string(),
                network_code: None,
            })
            .collect();
        assert_eq!(listed_pdu(&rows, "RC971", Some("RVV")), Some("PZ010"));
        assert_eq!(listed_pdu(&rows, "RVV01", Some("RVV")), Some("PZ024"));
        assert_eq!(listed_pdu(&rows, "RVV01", None), None);
    }

    #[test]
    fn the_sites_network_before_the_listed_one() {
        assert_eq!(
            network(&Agreement::One("SWEP".into()), Some("ORENG")).as_deref(),
            Some("SWEP")
        );
        assert_eq!(
            network(&Agreement::Disagree, Some("ORENG")).as_deref(),
            Some("ORENG")
        );
        assert_eq!(network(&Agreement::None, None), None);
    }

    #[test]
    fn a_new_site_is_placed_whole_and_jersey_gets_no_geography() {
        let new = NewSite {
            site: site(Some(ParentKind::Trust)),
            parent_code: Some("RVV"),
            trust: TrustFacts {
                listed_icb: Some("QKS"),
                ..trust()
            },
            listed_network: Some("ORENG"),
            listed_pdu: Some("PZ024"),
            ..Default::default()
        };
        let p = place(&new, &icbs());
        let codes: Vec<(Edge, String)> = p.edges();
        let want = [
            (Edge::OrganisationTrust, "RVV"),
            (Edge::OrganisationCountry, ENGLAND),
            (Edge::OrganisationIntegratedCareBoard, "QKS"),
            (Edge::OrganisationNhsEnglandRegion, "Y59"),
            (Edge::OrganisationOpenUkNetwork, "ORENG"),
            (Edge::OrganisationPaediatricDiabetesUnit, "PZ024"),
        ];
        let want: Vec<(Edge, String)> = want.iter().map(|(e, c)| (*e, c.to_string())).collect();
        assert_eq!(codes, want);
        let jersey = NewSite {
            site: SiteFacts {
                code: JERSEY_SITE,
                ..new.site
            },
            ..new.clone()
        };
        let p = place(&jersey, &icbs());
        assert_eq!((p.country, p.icb, p.region), (Some(JERSEY), None, None));
        // No parent: no network from one, but still the site's own PDU row.
        let alone = NewSite {
            site: site(None),
            parent_code: None,
            ..new
        };
        let p = place(&alone, &icbs());
        assert_eq!((p.parent, p.network), (None, None));
        assert_eq!(p.pdu.as_deref(), Some("PZ024"));
    }

    #[test]
    fn a_re_added_site_gets_back_what_it_had_when_deleted() {
        let day = |d| NaiveDate::from_ymd_opt(2025, 1, d);
        assert!(had_when_deleted(None, day(5)));
        assert!(had_when_deleted(day(5), day(5)));
        assert!(!had_when_deleted(day(4), day(5)));
        assert!(!had_when_deleted(day(4), None));
    }

    fn current() -> HashMap<Edge, String> {
        [
            (Edge::OrganisationTrust, "RVV"),
            (Edge::OrganisationCountry, ENGLAND),
            (Edge::OrganisationIntegratedCareBoard, "QKS"),
            (Edge::OrganisationNhsEnglandRegion, "Y59"),
            (Edge::OrganisationPaediatricDiabetesUnit, "PZ024"),
        ]
        .into_iter()
        .map(|(e, c)| (e, c.to_string()))
        .collect()
    }

    fn moving(kind: ParentKind, code: &str, country: &'static str) -> Move {
        Move {
            parent: (kind, code.to_string()),
            country: Some(country),
            geography: Geography {
                icb: Some("QKK".into()),
                region: Some("Y56".into()),
                warnings: vec!["note".into()],
            },
        }
    }

    #[test]
    fn edits_set_and_clear_plain_edges() {
        let settings = [
            (Edge::OrganisationPaediatricDiabetesUnit, Setting::Clear),
            (
                Edge::OrganisationLondonBorough,
                Setting::Set("E09000020".into()),
            ),
            (Edge::OrganisationOpenUkNetwork, Setting::Keep),
        ];
        let e = Edit {
            current: current(),
            settings: &settings,
            ..Default::default()
        };
        let (p, w) = edit(&e, &icbs());
        assert!(!p.contains_key(&Edge::OrganisationPaediatricDiabetesUnit));
        assert_eq!(p[&Edge::OrganisationLondonBorough], "E09000020");
        assert!(w.is_empty());
        let cleared = Edit {
            clear_parent: true,
            ..e
        };
        let (p, _) = edit(&cleared, &icbs());
        assert!(!p.contains_key(&Edge::OrganisationTrust));
        // Clearing the parent leaves the geography.
        assert_eq!(p[&Edge::OrganisationIntegratedCareBoard], "QKS");
    }

    #[test]
    fn a_new_trust_brings_its_geography_and_a_board_clears_it() {
        let e = Edit {
            current: current(),
            moved: Some(moving(ParentKind::Trust, "RJ1", ENGLAND)),
            ..Default::default()
        };
        let (p, w) = edit(&e, &icbs());
        assert_eq!(p[&Edge::OrganisationTrust], "RJ1");
        assert_eq!(p[&Edge::OrganisationIntegratedCareBoard], "QKK");
        assert_eq!(p[&Edge::OrganisationNhsEnglandRegion], "Y56");
        assert_eq!(w, ["note"]);
        let board = Edit {
            moved: Some(moving(ParentKind::Board, "7A4", WALES)),
            ..e
        };
        let (p, w) = edit(&board, &icbs());
        assert_eq!(p[&Edge::OrganisationLocalHealthBoard], "7A4");
        assert_eq!(p[&Edge::OrganisationCountry], WALES);
        assert!(!p.contains_key(&Edge::OrganisationTrust));
        assert!(!p.contains_key(&Edge::OrganisationIntegratedCareBoard));
        assert!(!p.contains_key(&Edge::OrganisationNhsEnglandRegion));
        assert!(w.is_empty(), "no geography asked outside England: {w:?}");
    }

    #[test]
    fn a_given_icb_or_region_wins_over_the_new_parents() {
        let settings = [(
            Edge::OrganisationNhsEnglandRegion,
            Setting::Set("Y59".into()),
        )];
        let e = Edit {
            current: current(),
            settings: &settings,
            moved: Some(moving(ParentKind::Trust, "RJ1", ENGLAND)),
            ..Default::default()
        };
        let (p, w) = edit(&e, &icbs());
        assert_eq!(p[&Edge::OrganisationIntegratedCareBoard], "QKK");
        assert_eq!(p[&Edge::OrganisationNhsEnglandRegion], "Y59");
        assert!(w.contains(&"ICB QKK belongs to another region than Y59".to_string()));
        let icb = [(
            Edge::OrganisationIntegratedCareBoard,
            Setting::Set("QRV".into()),
        )];
        let e = Edit {
            settings: &icb,
            ..e
        };
        let (p, w) = edit(&e, &icbs());
        assert_eq!(p[&Edge::OrganisationIntegratedCareBoard], "QRV");
        assert_eq!(p[&Edge::OrganisationNhsEnglandRegion], "Y56");
        assert!(
            w.is_empty(),
            "geography not asked when the ICB is given: {w:?}"
        );
    }

    #[test]
    fn a_hand_set_icb_brings_its_region_unless_unchanged() {
        let settings = [(
            Edge::OrganisationIntegratedCareBoard,
            Setting::Set("QKK".into()),
        )];
        let e = Edit {
            current: current(),
            settings: &settings,
            ..Default::default()
        };
        let (p, _) = edit(&e, &icbs());
        assert_eq!(p[&Edge::OrganisationNhsEnglandRegion], "Y56");
        // The same ICB again leaves a hand-set region alone.
        let mut odd = current();
        odd.insert(Edge::OrganisationNhsEnglandRegion, "Y56".into());
        let same = [(
            Edge::OrganisationIntegratedCareBoard,
            Setting::Set("QKS".into()),
        )];
        let e = Edit {
            current: odd,
            settings: &same,
            ..Default::default()
        };
        let (p, w) = edit(&e, &icbs());
        assert_eq!(p[&Edge::OrganisationNhsEnglandRegion], "Y56");
        assert_eq!(w, ["ICB QKS belongs to another region than Y56"]);
    }

    #[test]
    fn the_named_lead_while_it_is_a_site_else_the_first() {
        assert_eq!(named_lead("PZ024"), Some("RVV01"));
        assert_eq!(named_lead("PZ001"), None);
        let sites = ["RVV09", "RVV01"];
        assert_eq!(lead_site(&sites, |s| *s == "RVV01"), Some(&"RVV01"));
        assert_eq!(lead_site(&sites, |s| *s == "RVV77"), Some(&"RVV09"));
        assert_eq!(lead_site(&[] as &[&str], |_| true), None);
    }
}
