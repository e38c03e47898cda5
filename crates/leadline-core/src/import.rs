//! List loading rules: which CSV column fills what, and one row to a lead.
//!
//! A column fills a field of the campaign's template (matched by name without regard to case,
//! spaces or punctuation, exactly as dialer loads are mapped), or one of the lead's own
//! attributes (`external_id`, `email`, `phones`, …, the names `leadline export` writes, plus any
//! other names the file format in use gives them), or nothing. `--map COLUMN=FIELD` overrides the
//! match for a column; `--map COLUMN=` ignores it.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::catalog::TemplateField;
use crate::dialer::{
    normalize_phone, parse_callback, target_of, DialerError, DialerRecord, Given, PhoneCountry, Target,
};
use crate::lead::LeadInput;
use crate::DomainError;

/// A lead attribute a column can fill besides the template's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    ExternalId,
    Name,
    FirstName,
    LastName,
    Email,
    /// Several numbers in one cell, separated by `;` (as `leadline export` writes them).
    Phones,
    Address1,
    City,
    State,
    PostalCode,
    Country,
    /// A JSON object of custom fields (as `leadline export` writes them).
    Fields,
    Priority,
    /// RFC 3339 (`2026-03-01T09:30:00Z`) or `yyyy/MM/dd HH:mm` in the lead's contact-hours zone.
    CallbackAt,
    Description,
}

/// Attribute names a column may carry (or name in `--map`), compared as [`key`] does. A file
/// format may add its own names for them (see [`Plan::new`]).
pub const ATTRIBUTES: &[(&str, Attr)] = &[
    ("external_id", Attr::ExternalId),
    ("name", Attr::Name),
    ("first_name", Attr::FirstName),
    ("last_name", Attr::LastName),
    ("email", Attr::Email),
    ("phones", Attr::Phones),
    ("phone", Attr::Phones),
    ("address1", Attr::Address1),
    ("city", Attr::City),
    ("state", Attr::State),
    ("postal_code", Attr::PostalCode),
    ("country", Attr::Country),
    ("fields", Attr::Fields),
    ("priority", Attr::Priority),
    ("callback_at", Attr::CallbackAt),
    ("description", Attr::Description),
];

/// What one column fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fill {
    /// The template field at this index.
    Template(usize),
    Attr(Attr),
    Ignored,
}

/// A name compared without case, spaces or punctuation: `First Name`, `first_name` and
/// `FIRSTNAME` are one name.
pub fn key(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

fn attribute(name: &str, aliases: &[(&str, Attr)]) -> Option<Attr> {
    let wanted = key(name);
    ATTRIBUTES.iter().chain(aliases).find(|(n, _)| key(n) == wanted).map(|(_, a)| *a)
}

/// How a file's columns fill a lead, decided once from its header.
#[derive(Debug, Clone)]
pub struct Plan {
    pub columns: Vec<Fill>,
    pub template: Vec<TemplateField>,
    /// Header names that fill nothing, for the summary.
    pub ignored: Vec<String>,
}

fn file_error(message: impl Into<String>) -> DomainError {
    DomainError::new("file", message)
}

impl Plan {
    /// Matches a header to the template. `aliases` are the file format's own names for
    /// attributes, accepted beside [`ATTRIBUTES`]. Refuses a header that fills nothing, that
    /// gives no phone, that fills one field twice, or a `--map` naming an unknown column or field.
    pub fn new(
        header: &[String],
        template: &[TemplateField],
        maps: &[(String, String)],
        aliases: &[(&str, Attr)],
    ) -> Result<Plan, DomainError> {
        for (column, _) in maps {
            if !header.iter().any(|h| h == column) {
                return Err(DomainError::new(
                    "map",
                    format!("--map names column `{column}`, which the header (line 1) does not have"),
                ));
            }
        }
        let mut columns = Vec::with_capacity(header.len());
        let mut ignored = Vec::new();
        for name in header {
            let fill = match maps.iter().rev().find(|(column, _)| column == name) {
                Some((_, field)) if field.trim().is_empty() || field.trim() == "-" => Fill::Ignored,
                Some((_, field)) => {
                    match template.iter().position(|f| f.name == *field || key(&f.name) == key(field)) {
                        Some(index) => Fill::Template(index),
                        None => match attribute(field, aliases) {
                            Some(attr) => Fill::Attr(attr),
                            None => {
                                return Err(DomainError::new(
                                    "map",
                                    format!(
                                    "--map {name}={field}: `{field}` is neither a field of the campaign's template \
                                     ({}) nor a lead attribute ({})",
                                    template.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", "),
                                    ATTRIBUTES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                                ),
                                ))
                            }
                        },
                    }
                }
                None => match template.iter().position(|f| key(&f.name) == key(name)) {
                    Some(index) => Fill::Template(index),
                    None => attribute(name, aliases).map(Fill::Attr).unwrap_or(Fill::Ignored),
                },
            };
            if fill == Fill::Ignored {
                ignored.push(name.clone());
            } else if let Some(earlier) = columns.iter().position(|f| *f == fill) {
                let earlier: &String = &header[earlier];
                return Err(file_error(format!(
                    "line 1: columns `{earlier}` and `{name}` both fill the same field; use --map to say which one does"
                )));
            }
            columns.push(fill);
        }
        if columns.iter().all(|f| *f == Fill::Ignored) {
            return Err(file_error(format!(
                "line 1: no column of the header ({}) matches a field of the campaign's template ({}) or a lead \
                 attribute; name the columns after the fields or use --map COLUMN=FIELD",
                header.join(", "),
                template.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        let gives_phone = columns.iter().any(|f| match f {
            Fill::Template(i) => target_of(&template[*i]) == Target::Phone,
            Fill::Attr(a) => *a == Attr::Phones,
            Fill::Ignored => false,
        });
        if !gives_phone {
            return Err(file_error(format!(
                "line 1: no column gives a phone number: name one after a phone field of the template ({}) or \
                 `phones`, or use --map COLUMN=FIELD",
                template.iter().filter(|f| f.kind == "phone").map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(Plan { columns, template: template.to_vec(), ignored })
    }

    /// The lead input one row asks for. Empty cells fill nothing. `zone` reads callback dates
    /// written as wall time.
    pub fn input(
        &self,
        row: &[&str],
        country: Option<&PhoneCountry>,
        zone: &TimeZone,
    ) -> Result<LeadInput, DomainError> {
        let mut record = DialerRecord::default();
        let mut extra_phones: Vec<&str> = Vec::new();
        let mut custom: Option<Map<String, Value>> = None;
        let mut attrs: Vec<(Attr, &str)> = Vec::new();
        for (fill, cell) in self.columns.iter().zip(row) {
            if cell.trim().is_empty() {
                continue;
            }
            match fill {
                Fill::Template(i) => {
                    record
                        .fields
                        .push((self.template[*i].name.clone(), Given::Set(Value::String((*cell).to_string()))));
                }
                Fill::Attr(Attr::Phones) => extra_phones.extend(cell.split(';').filter(|p| !p.trim().is_empty())),
                Fill::Attr(Attr::Fields) => match serde_json::from_str::<Value>(cell) {
                    Ok(Value::Object(map)) => custom = Some(map),
                    _ => return Err(DomainError::new("fields", "must be a JSON object such as {\"Colour\": \"red\"}")),
                },
                Fill::Attr(attr) => attrs.push((*attr, cell)),
                Fill::Ignored => {}
            }
        }
        let mut input = record.to_input(&self.template, country, None).map_err(|e| match e {
            DialerError::Invalid(d) => d,
            other => DomainError::new("", other.to_string()),
        })?;
        let mut phones = input.phones.take().unwrap_or_default();
        for written in extra_phones {
            let phone = normalize_phone(written, country).map_err(|e| e.within("phones"))?;
            if !phones.iter().any(|p| p == phone.as_str()) {
                phones.push(phone.as_str().to_string());
            }
        }
        if phones.is_empty() {
            return Err(DomainError::new("phones", "the row has no phone number"));
        }
        input.phones = Some(phones);
        if let Some(mut map) = custom {
            // Template columns given beside a `fields` object win over the object's values.
            if let Some(given) = input.fields.take() {
                map.extend(given);
            }
            input.fields = Some(map);
        }
        for (attr, cell) in attrs {
            let text = Some(Some(cell.to_string()));
            match attr {
                Attr::ExternalId => input.external_id = text,
                Attr::Name => input.name = text,
                Attr::FirstName => input.first_name = text,
                Attr::LastName => input.last_name = text,
                Attr::Email => input.email = text,
                Attr::Address1 => input.address1 = text,
                Attr::City => input.city = text,
                Attr::State => input.state = text,
                Attr::PostalCode => input.postal_code = text,
                Attr::Country => input.country = text,
                Attr::Description => input.description = text,
                Attr::Priority => match cell.trim().parse::<i64>() {
                    Ok(n) if (0..=100).contains(&n) => input.priority = Some(n),
                    _ => {
                        return Err(DomainError::new(
                            "priority",
                            format!("`{cell}` is not a whole number from 0 to 100"),
                        ))
                    }
                },
                Attr::CallbackAt => {
                    let at = match cell.trim().parse::<Timestamp>() {
                        Ok(at) => at,
                        Err(_) => parse_callback(cell, zone).map_err(|_| {
                            DomainError::new(
                                "callback_at",
                                format!("`{cell}` is neither an RFC 3339 time nor a date written yyyy/MM/dd HH:mm"),
                            )
                        })?,
                    };
                    input.callback_at = Some(Some(at));
                }
                Attr::Phones | Attr::Fields => {}
            }
        }
        Ok(input)
    }
}

/// A phone of 6 to 15 digits as one number, for remembering which numbers a file already gave
/// without keeping their text: the digit count sits above the value, so `0412…` and `412…`
/// stay apart.
pub fn phone_key(digits: &str) -> u64 {
    let value = digits.bytes().fold(0u64, |n, b| n.wrapping_mul(10).wrapping_add(u64::from(b.wrapping_sub(b'0'))));
    ((digits.len() as u64) << 50) | value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialer::phone_country;

    fn template() -> Vec<TemplateField> {
        [("Name", "text"), ("City", "text"), ("Mobile", "phone"), ("Home Phone", "phone"), ("Colour", "text")]
            .iter()
            .map(|(n, k)| TemplateField { name: n.to_string(), kind: k.to_string() })
            .collect()
    }

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn header_names_match_template_fields_and_attributes_without_case_or_punctuation() {
        let plan = Plan::new(&header(&["NAME", "home_phone", "E-mail", "External ID", "Notes"]), &template(), &[], &[])
            .unwrap();
        assert_eq!(
            plan.columns,
            vec![
                Fill::Template(0),
                Fill::Template(3),
                Fill::Attr(Attr::Email),
                Fill::Attr(Attr::ExternalId),
                Fill::Ignored
            ]
        );
        assert_eq!(plan.ignored, vec!["Notes".to_string()]);
    }

    #[test]
    fn a_file_format_may_name_attributes_its_own_way() {
        let aliases = [("theirLeadId", Attr::ExternalId)];
        let columns = |aliases: &[(&str, Attr)]| {
            Plan::new(&header(&["Mobile", "Their Lead ID"]), &template(), &[], aliases).unwrap().columns
        };
        assert_eq!(columns(&aliases), vec![Fill::Template(2), Fill::Attr(Attr::ExternalId)]);
        assert_eq!(columns(&[]), vec![Fill::Template(2), Fill::Ignored]);
        let maps = vec![("Tel".to_string(), "theirLeadId".to_string())];
        let plan = Plan::new(&header(&["Mobile", "Tel"]), &template(), &maps, &aliases).unwrap();
        assert_eq!(plan.columns[1], Fill::Attr(Attr::ExternalId));
    }

    #[test]
    fn a_map_overrides_the_match_and_can_ignore_a_column() {
        let maps = vec![("Tel".to_string(), "Mobile".to_string()), ("City".to_string(), "-".to_string())];
        let plan = Plan::new(&header(&["Tel", "City"]), &template(), &maps, &[]).unwrap();
        assert_eq!(plan.columns, vec![Fill::Template(2), Fill::Ignored]);
    }

    #[test]
    fn a_header_that_fills_nothing_is_refused_naming_line_one() {
        let error = Plan::new(&header(&["foo", "bar"]), &template(), &[], &[]).unwrap_err();
        assert_eq!(error.field, "file");
        assert!(error.message.starts_with("line 1: no column of the header (foo, bar)"), "{}", error.message);
    }

    #[test]
    fn a_header_without_a_phone_column_is_refused() {
        let error = Plan::new(&header(&["Name", "City"]), &template(), &[], &[]).unwrap_err();
        assert!(error.message.contains("no column gives a phone number"), "{}", error.message);
    }

    #[test]
    fn two_columns_filling_one_field_and_unknown_map_targets_are_refused() {
        let error = Plan::new(&header(&["Mobile", "mobile"]), &template(), &[], &[]).unwrap_err();
        assert!(error.message.contains("both fill the same field"), "{}", error.message);
        let maps = vec![("Tel".to_string(), "Nope".to_string())];
        let error = Plan::new(&header(&["Tel"]), &template(), &maps, &[]).unwrap_err();
        assert_eq!(error.field, "map");
        let maps = vec![("Gone".to_string(), "Mobile".to_string())];
        assert!(Plan::new(&header(&["Tel"]), &template(), &maps, &[]).unwrap_err().message.contains("`Gone`"));
    }

    #[test]
    fn a_row_becomes_a_lead_input_with_phones_normalized_in_template_order() {
        let plan = Plan::new(
            &header(&["Name", "Home Phone", "Mobile", "phones", "Colour", "priority", "email"]),
            &template(),
            &[],
            &[],
        )
        .unwrap();
        let au = phone_country("AU");
        let input = plan
            .input(
                &["Ann Lee", "(03) 8321 8199", "0412 345 678", "+61 2 9999 0000;0412345678", "red", "5", "a@b.co"],
                au,
                &TimeZone::UTC,
            )
            .unwrap();
        assert_eq!(input.name, Some(Some("Ann Lee".into())));
        assert_eq!(input.phones, Some(vec!["61412345678".into(), "61383218199".into(), "61299990000".into()]));
        assert_eq!(input.priority, Some(5));
        assert_eq!(input.email, Some(Some("a@b.co".into())));
        let fields = input.fields.unwrap();
        assert_eq!(fields["Colour"], "red");
        assert_eq!(fields["Mobile"], "61412345678");
    }

    #[test]
    fn bad_cells_are_row_errors_naming_the_field() {
        let plan = Plan::new(&header(&["Mobile", "priority", "callback_at", "fields"]), &template(), &[], &[]).unwrap();
        let utc = TimeZone::UTC;
        assert_eq!(plan.input(&["", "", "", ""], None, &utc).unwrap_err().field, "phones");
        assert_eq!(plan.input(&["abc123", "", "", ""], None, &utc).unwrap_err().field, "Mobile");
        assert_eq!(plan.input(&["0412345678", "101", "", ""], None, &utc).unwrap_err().field, "priority");
        assert_eq!(plan.input(&["0412345678", "", "soon", ""], None, &utc).unwrap_err().field, "callback_at");
        assert_eq!(plan.input(&["0412345678", "", "", "[1]"], None, &utc).unwrap_err().field, "fields");
        let ok = plan.input(&["0412345678", "", "2026/03/01 09:30", "{\"a\":1}"], None, &utc).unwrap();
        assert_eq!(ok.callback_at, Some(Some("2026-03-01T09:30:00Z".parse().unwrap())));
        assert_eq!(ok.fields.unwrap()["a"], 1);
    }

    #[test]
    fn phone_keys_keep_leading_zeros_apart() {
        assert_ne!(phone_key("0412345678"), phone_key("412345678"));
        assert_eq!(phone_key("61412345678"), phone_key("61412345678"));
        assert_ne!(phone_key("999999999999999"), phone_key("100000000000000"));
    }
}
