//! List loading: mapping, normalization, DNC, duplicates, rejects, dry runs, resuming, bad
//! files, and HTTP jobs that survive a restart — on every backend.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use jiff::SignedDuration;
use leadline_app::imports::{self, ImportRequest, Outcome, Progress, Tuning, Upload};
use leadline_app::keys::{self, KeyRequest};
use leadline_app::{App, AppError};
use leadline_core::lead::Lead;
use leadline_store::imports::{Checkpoint, JobStatus, Reject};
use leadline_store::leads::LeadFilter;
use leadline_store::{Exec, Sql};
use serde_json::json;

struct World {
    campaign: i64,
    allocation: i64,
    other_campaign: i64,
    other_allocation: i64,
    template: i64,
}

async fn world(app: &App) -> World {
    let template = create(
        app,
        "campaign-templates",
        json!({"name": "Solar list", "phone_country": "AU", "fields": [
            {"name": "First Name", "kind": "text"}, {"name": "Surname", "kind": "text"},
            {"name": "Mobile", "kind": "phone"}, {"name": "Home Phone", "kind": "phone"},
            {"name": "Suburb", "kind": "text"}, {"name": "Roof Type", "kind": "text"}]}),
    )
    .await;
    let campaign = create(app, "campaigns", json!({"template_id": template, "name": "Solar"})).await;
    let allocation =
        create(app, "allocations", json!({"campaign_id": campaign, "name": "Week 1", "active": true})).await;
    let other_campaign = create(app, "campaigns", json!({"template_id": template, "name": "Solar B"})).await;
    let other_allocation =
        create(app, "allocations", json!({"campaign_id": other_campaign, "name": "B1", "active": true})).await;
    World { campaign, allocation, other_campaign, other_allocation, template }
}

/// A CSV file in the temporary directory, removed when the test is done with it.
struct Csv(PathBuf);

impl std::ops::Deref for Csv {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for Csv {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn file(content: &[u8]) -> Csv {
    let path = std::env::temp_dir().join(format!("leadline-import-{}.csv", random_hex(8)));
    std::fs::write(&path, content).unwrap();
    Csv(path)
}

fn request(w: &World) -> ImportRequest {
    ImportRequest { campaign_id: w.campaign, allocation_id: w.allocation, ..ImportRequest::default() }
}

async fn leads_of(app: &App, campaign: i64) -> Vec<Lead> {
    let mut conn = app.store.read().await.unwrap();
    let filter = LeadFilter { campaign_id: Some(campaign), limit: 100_000, ..LeadFilter::default() };
    leadline_store::leads::list(&mut conn, &filter).await.unwrap()
}

async fn rejects_of(app: &App, job: i64) -> Vec<Reject> {
    imports::rejects(app, &admin(), job, 0, 10_000).await.unwrap()
}

async fn run(app: &App, req: &ImportRequest, path: &std::path::Path) -> Result<Outcome, AppError> {
    imports::import_file(app, &admin(), req, path.to_path_buf(), Tuning::default(), &mut ()).await
}

fn phones(lead: &Lead) -> Vec<&str> {
    lead.phones.iter().map(|p| p.as_str()).collect()
}

#[derive(Default)]
struct Collect {
    batches: Vec<Checkpoint>,
    rejects: Vec<Reject>,
}

impl Progress for Collect {
    fn batch(&mut self, at: &Checkpoint) {
        self.batches.push(*at);
    }
    fn rejects(&mut self, rejects: &[Reject]) {
        self.rejects.extend_from_slice(rejects);
    }
}

conformance! {
    async fn a_ref_drawn_twice_in_one_bulk_insert_goes_to_its_first_lead_only(app) {
        // Refs drawn in one second share their first characters, so two leads of a batch can
        // draw the same one: the later one must come back as taken (to draw again), not with the
        // id of the row written for the first.
        let at = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let lead = |name: &str, lead_ref: &str| {
            Lead::create(lead_ref.into(), serde_json::from_value(json!({"name": name})).unwrap(), at).unwrap()
        };
        let mut tx = app.store.begin().await.unwrap();
        let stored = leadline_store::imports::insert_leads(&mut tx, &[lead("Stored", "ZZZ22222")]).await;
        assert!(stored.unwrap()[0].is_some());
        let batch = [lead("First", "ZZZ33333"), lead("Second", "ZZZ33333"), lead("Third", "ZZZ22222"), lead("Fourth", "ZZZ44444")];
        let ids = leadline_store::imports::insert_leads(&mut tx, &batch).await.unwrap();
        tx.commit().await.unwrap();
        assert!(ids[0].is_some() && ids[1].is_none() && ids[2].is_none() && ids[3].is_some(), "{ids:?}");
        for (id, name) in [(ids[0], "First"), (ids[3], "Fourth")] {
            let written = leadline_app::leads::get(&app, &admin(), id.unwrap()).await.unwrap();
            assert_eq!(written.name.as_deref(), Some(name));
        }
        // The store alone writes no history (the use cases do), so these leads go before the
        // harness checks that every lead's last change has its history row.
        let mut tx = app.store.begin().await.unwrap();
        tx.run(&Sql::new("DELETE FROM leads")).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn columns_fill_template_fields_and_phones_are_normalized(app) {
        let w = world(&app).await;
        let path = file(
            "first_name,SURNAME,mobile,Home Phone,Roof Type,E-mail,External ID,priority,Notes\n\
             Ann,Lee,0412 345 678,(03) 8321 8199,tile,ann@example.com,X-1,5,ignored\n\
             Bob,Ray,+61 413 000 111,,metal,,X-2,,\n"
                .as_bytes(),
        );
        let outcome = run(&app, &request(&w), &path).await.unwrap();
        assert_eq!(outcome.counts.loaded, 2);
        assert_eq!(outcome.counts.rows_read, 2);
        assert_eq!(outcome.ignored_columns, vec!["Notes".to_string()]);
        let leads = leads_of(&app, w.campaign).await;
        assert_eq!(leads.len(), 2);
        let ann = &leads[0];
        assert_eq!(ann.first_name.as_deref(), Some("Ann"));
        assert_eq!(ann.last_name.as_deref(), Some("Lee"));
        assert_eq!(phones(ann), vec!["61412345678", "61383218199"]);
        assert_eq!(ann.fields["Roof Type"], "tile");
        assert_eq!(ann.email.as_deref(), Some("ann@example.com"));
        assert_eq!(ann.external_id.as_deref(), Some("X-1"));
        assert_eq!(ann.priority, 5);
        assert_eq!(ann.allocation_id, Some(w.allocation));
        assert_eq!(phones(&leads[1]), vec!["61413000111"]);
        assert_eq!(leads[1].priority, 10);
        let history = history(&app, ann.id).await;
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].action, "import");
        assert_eq!(history[0].api, "cli");
        let job = imports::get(&app, &admin(), outcome.job_id.unwrap()).await.unwrap();
        assert_eq!(job.status, JobStatus::Done);
    }

    async fn a_list_written_with_noojee_column_names_loads_its_attributes(app) {
        let w = world(&app).await;
        let path = file(b"Mobile,njExternalLeadId,njPriority,njCallBackDate\n0412345678,N-1,3,2026/03/01 09:30\n");
        let outcome = run(&app, &request(&w), &path).await.unwrap();
        assert_eq!((outcome.counts.loaded, outcome.ignored_columns.len()), (1, 0));
        let lead = &leads_of(&app, w.campaign).await[0];
        assert_eq!((lead.external_id.as_deref(), lead.priority), (Some("N-1"), 3));
        assert_eq!(lead.callback_at, Some("2026-03-01T09:30:00Z".parse().unwrap()));
    }

    async fn a_map_names_the_field_a_column_fills(app) {
        let w = world(&app).await;
        let path = file(b"Tel,Town\n0412345678,Perth\n");
        let mut req = request(&w);
        req.maps = vec![("Tel".into(), "Mobile".into()), ("Town".into(), "Suburb".into())];
        run(&app, &req, &path).await.unwrap();
        let leads = leads_of(&app, w.campaign).await;
        assert_eq!(phones(&leads[0]), vec!["61412345678"]);
        assert_eq!(leads[0].city.as_deref(), Some("Perth"));
    }

    async fn numbers_on_a_dnc_list_are_rejected_with_their_line(app) {
        let w = world(&app).await;
        create(&app, "dnc", json!({"phone": "0412000001"})).await;
        create(&app, "dnc", json!({"phone": "61412000002", "campaign_id": w.campaign})).await;
        create(&app, "dnc", json!({"phone": "61412000003", "campaign_id": w.other_campaign})).await;
        let path = file(b"Mobile,First Name\n0412 000 001,A\n0412000002,B\n0412000003,C\nnot a phone,D\n,E\n");
        let outcome = run(&app, &request(&w), &path).await.unwrap();
        assert_eq!(outcome.counts.loaded, 1, "only the number on another campaign's list loads");
        assert_eq!(outcome.counts.rejected_dnc, 2);
        assert_eq!(outcome.counts.rejected_invalid, 2);
        let rejects = rejects_of(&app, outcome.job_id.unwrap()).await;
        let shown: Vec<(i64, &str, &str)> =
            rejects.iter().map(|r| (r.line, r.reason.as_str(), r.record.as_str())).collect();
        assert_eq!(shown[0], (2, "phone 61412000001 is on a do-not-call list", "0412 000 001,A"));
        assert_eq!(shown[1], (3, "phone 61412000002 is on a do-not-call list", "0412000002,B"));
        assert_eq!(shown[2].0, 5);
        assert!(shown[2].1.starts_with("Mobile: `not a phone` is not a phone number"), "{}", shown[2].1);
        assert_eq!(shown[3], (6, "phones: the row has no phone number", ",E"));
    }

    async fn a_dnc_list_longer_than_the_batch_is_probed_with_the_same_outcome(app) {
        // Lists a few times longer than a batch's phone forms are probed number by number
        // instead of read through; the outcome must not depend on which.
        let w = world(&app).await;
        for n in 0..200 {
            create(&app, "dnc", json!({"phone": format!("0299{n:06}")})).await;
        }
        create(&app, "dnc", json!({"phone": "0412000001"})).await;
        create(&app, "dnc", json!({"phone": "61412000002", "campaign_id": w.campaign})).await;
        create(&app, "dnc", json!({"phone": "61412000003", "campaign_id": w.other_campaign})).await;
        let path = file(b"Mobile,First Name\n0412 000 001,A\n0412000002,B\n0412000003,C\n0299000007,D\n");
        let outcome = run(&app, &request(&w), &path).await.unwrap();
        assert_eq!((outcome.counts.loaded, outcome.counts.rejected_dnc), (1, 3));
        let rejects = rejects_of(&app, outcome.job_id.unwrap()).await;
        let lines: Vec<i64> = rejects.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3, 5]);
        assert_eq!(phones(&leads_of(&app, w.campaign).await[0]), vec!["61412000003"]);
    }

    async fn duplicate_phones_are_rejected_within_the_file_and_against_the_campaign(app) {
        let w = world(&app).await;
        new_lead(&app, json!({"campaign_id": w.campaign, "phones": ["61412000009"]})).await;
        new_lead(&app, json!({"campaign_id": w.other_campaign, "phones": ["61412000008"]})).await;
        // Batches of two: the repeat on line 3 is in the same batch as line 2, the one on line 6
        // in a later batch.
        let path = file(b"Mobile,Home Phone\n0412000001,\n0412000001,\n0412000009,\n0412000008,\n0412000002,0412000001\n");
        let tuning = Tuning { batch_rows: 2, ..Tuning::default() };
        let outcome = imports::import_file(&app, &admin(), &request(&w), path.clone(), tuning, &mut ()).await.unwrap();
        assert_eq!(outcome.counts.loaded, 2);
        assert_eq!(outcome.counts.rejected_duplicate, 3);
        let rejects = rejects_of(&app, outcome.job_id.unwrap()).await;
        let lines: Vec<(i64, &str)> = rejects.iter().map(|r| (r.line, r.reason.as_str())).collect();
        assert_eq!(lines[0], (3, "phone 61412000001 is on an earlier row of this file"));
        assert_eq!(lines[1], (4, format!("phone 61412000009 is already on a lead of campaign {}", w.campaign).as_str()));
        assert_eq!(lines[2], (6, format!("phone 61412000001 is already on a lead of campaign {}", w.campaign).as_str()));
        let loaded: Vec<Vec<String>> =
            leads_of(&app, w.campaign).await.iter().map(|l| l.phones.iter().map(|p| p.to_string()).collect()).collect();
        assert_eq!(loaded, vec![vec!["61412000009"], vec!["61412000001"], vec!["61412000008"]]);
    }

    async fn allowing_duplicates_loads_repeated_phones_but_never_dnc(app) {
        let w = world(&app).await;
        create(&app, "dnc", json!({"phone": "61412000005"})).await;
        let path = file(b"Mobile\n0412000001\n0412000001\n0412000005\n");
        let mut req = request(&w);
        req.allow_duplicates = true;
        let outcome = run(&app, &req, &path).await.unwrap();
        assert_eq!((outcome.counts.loaded, outcome.counts.rejected_dnc), (2, 1));
    }

    async fn a_repeated_external_id_is_rejected(app) {
        let w = world(&app).await;
        let path = file(b"Mobile,external_id\n0412000001,A\n0412000002,A\n");
        let outcome = run(&app, &request(&w), &path).await.unwrap();
        assert_eq!((outcome.counts.loaded, outcome.counts.rejected_duplicate), (1, 1));
        let again = file(b"Mobile,external_id\n0412000003,A\n");
        let outcome = run(&app, &request(&w), &again).await.unwrap();
        assert_eq!(outcome.counts.rejected_duplicate, 1);
        assert_eq!(rejects_of(&app, outcome.job_id.unwrap()).await[0].reason, format!("external id `A` is already on a lead of campaign {}", w.campaign));
    }

    async fn a_dry_run_reports_what_would_happen_and_writes_nothing(app) {
        let w = world(&app).await;
        create(&app, "dnc", json!({"phone": "61412000005"})).await;
        let content = b"Mobile\n0412000001\n0412000001\n0412000005\n0412000002\n0412000001\n";
        let path = file(content);
        let tuning = Tuning { batch_rows: 2, ..Tuning::default() };
        let mut seen = Collect::default();
        let source = Arc::new(imports::FileSource(path.clone()));
        let dry = imports::dry_run(&app, &admin(), &request(&w), source, tuning, &mut seen).await.unwrap();
        assert_eq!(dry.job_id, None);
        assert!(leads_of(&app, w.campaign).await.is_empty());
        let lines: Vec<i64> = seen.rejects.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 6]);
        let real = imports::import_file(&app, &admin(), &request(&w), path.to_path_buf(), tuning, &mut ()).await.unwrap();
        assert_eq!(dry.counts.loaded, real.counts.loaded);
        assert_eq!(dry.counts.rejected_duplicate, real.counts.rejected_duplicate);
        assert_eq!(dry.counts.rejected_dnc, real.counts.rejected_dnc);
        assert_eq!(seen.batches.len(), 3);
    }

    async fn an_interrupted_import_resumes_without_loading_a_row_twice(app) {
        let w = world(&app).await;
        let mut content = String::from("Mobile,First Name\n");
        for i in 0..25 {
            content.push_str(&format!("04120000{i:02},\"Name\r\n{i}\"\r\n"));
        }
        let path = file(content.as_bytes());
        // Duplicates allowed, so only the checkpoint (not the duplicate check) keeps rows single.
        let mut req = request(&w);
        req.allow_duplicates = true;
        let stop = Tuning { batch_rows: 4, stop_after_batches: Some(3) };
        let first = imports::import_file(&app, &admin(), &req, path.clone(), stop, &mut ()).await.unwrap();
        assert_eq!(first.counts.loaded, 12);
        assert_eq!(leads_of(&app, w.campaign).await.len(), 12);
        // The claim of the interrupted run lasts a minute; a new run waits for it to lapse.
        let refused = imports::import_file(&app, &admin(), &req, path.clone(), Tuning::default(), &mut ()).await.unwrap_err();
        assert!(refused.to_string().contains("is running in another process"), "{refused}");
        let later = App { clock: TestClock::at("2099-01-01T00:00:00Z"), ..app.clone() };
        let second = imports::import_file(&later, &admin(), &req, path.clone(), Tuning { batch_rows: 4, stop_after_batches: None }, &mut ()).await.unwrap();
        assert!(second.resumed);
        assert_eq!(second.job_id, first.job_id);
        assert_eq!(second.counts.loaded, 25);
        let leads = leads_of(&app, w.campaign).await;
        assert_eq!(leads.len(), 25);
        let mut numbers: Vec<String> = leads.iter().map(|l| l.phones[0].to_string()).collect();
        numbers.dedup();
        assert_eq!(numbers.len(), 25);
        assert_eq!(leads[24].first_name.as_deref(), Some("Name\r\n24"));
        let done = run(&later, &req, &path).await.unwrap_err();
        assert!(done.to_string().contains("was already imported"), "{done}");
    }

    async fn a_batch_of_many_leads_writes_every_phone_and_history_row(app) {
        // 70 leads of two phones each: SQLite writes their history rows and phones 32 to a
        // statement and the rest one by one, so this crosses both.
        let w = world(&app).await;
        let mut content = String::from("Mobile,Home Phone\n");
        for i in 0..70 {
            content.push_str(&format!("04120001{i:02},0390001{i:03}\n"));
        }
        let outcome = run(&app, &request(&w), &file(content.as_bytes())).await.unwrap();
        assert_eq!(outcome.counts.loaded, 70);
        let mut leads = leads_of(&app, w.campaign).await;
        leads.sort_by_key(|l| l.id);
        assert_eq!(leads.len(), 70);
        for (line, lead) in (2..).zip(&leads) {
            let history = history(&app, lead.id).await;
            assert_eq!(history.len(), 1, "lead {}", lead.id);
            assert_eq!(history[0].changes["import"]["new"]["line"], json!(line));
        }
        // Every phone is on record for the duplicate check: each number, alone on a row of a
        // second file, is refused.
        let mut again = String::from("Mobile\n");
        for lead in &leads {
            for phone in &lead.phones {
                again.push_str(&format!("+{phone}\n"));
            }
        }
        let second = run(&app, &request(&w), &file(again.as_bytes())).await.unwrap();
        assert_eq!((second.counts.loaded, second.counts.rejected_duplicate), (0, 140));
    }

    async fn an_imported_lead_records_its_job_and_line_and_never_takes_an_archived_id(app) {
        use leadline_app::archive::{self, Target};
        use leadline_core::archive::{Batch, Direction};
        let w = world(&app).await;
        run(&app, &request(&w), &file(b"Mobile\n0412000001\n0412000002\n")).await.unwrap();
        let first = leads_of(&app, w.campaign).await;
        let newest = first.iter().map(|l| l.id).max().unwrap();
        let batch = Batch { direction: Direction::Archive, insert: true, update: false, delete: true, lead_ids: vec![newest] };
        archive::run(&app, &Target::Leadline, &admin(), leadline_core::history::Api::Cli, &batch).await.unwrap();
        let outcome = run(&app, &request(&w), &file(b"Mobile\n0412000003\n")).await.unwrap();
        let loaded = leads_of(&app, w.campaign).await.into_iter().find(|l| l.phones[0].as_str() == "61412000003").unwrap();
        assert!(loaded.id > newest, "lead {} reuses an id at or below archived lead {newest}", loaded.id);
        let history = history(&app, loaded.id).await;
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].action, "import");
        assert_eq!(
            history[0].changes,
            json!({"import": {"old": null, "new": {"job": outcome.job_id.unwrap(), "line": 2}}})
        );
    }

    async fn bad_files_are_refused_naming_the_line_and_nothing_is_loaded(app) {
        let w = world(&app).await;
        let long = "x".repeat(70_000);
        let open_quote = format!("Mobile,First Name\n0412000001,\"never closed\n{}", "0412000002,B\n".repeat(100_000));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"Mobile,First Name\n0412000001,A\n0412000002,Ren\xe9\n".to_vec(), "line 3, column `First Name`: byte 0xE9 is not UTF-8 text; save the file as UTF-8"),
            (b"Mobile,First Name\n0412000001,A\n0412000002,B,extra\n".to_vec(), "line 3: the row has 3 fields but the header has 2"),
            (b"foo,bar\n1,2\n".to_vec(), "line 1: no column of the header (foo, bar) matches a field of the campaign's template"),
            (format!("Mobile,First Name\n0412000001,A\n0412000002,{long}\n").into_bytes(), "line 3, column `First Name`: the field has 70000 bytes, more than the limit of 65536"),
            (open_quote.into_bytes(), "line 2: the row runs past 1048576 bytes; a quote is probably left open there"),
            (b"\xff\xfeM\x00o\x00".to_vec(), "line 1: the file is UTF-16 text"),
            (b"".to_vec(), "line 1: the file is empty"),
        ];
        for (content, expected) in cases {
            let path = file(&content);
            let error = run(&app, &request(&w), &path).await.unwrap_err();
            match &error {
                AppError::Invalid(d) => {
                    assert_eq!(d.field, "file");
                    assert!(d.message.starts_with(expected), "{} does not start with {expected}", d.message);
                }
                other => panic!("{other:?}"),
            }
            assert!(leads_of(&app, w.campaign).await.is_empty());
        }
    }

    async fn an_import_names_a_campaign_allocation_and_template_that_belong_together(app) {
        let w = world(&app).await;
        let path = file(b"Mobile\n0412000001\n");
        let mut req = request(&w);
        req.allocation_id = w.other_allocation;
        assert!(run(&app, &req, &path).await.unwrap_err().to_string().contains("no allocation"));
        let mut req = request(&w);
        req.template_id = Some(w.template + 100);
        assert!(run(&app, &req, &path).await.unwrap_err().to_string().contains(&format!("uses template {}", w.template)));
    }

    async fn an_http_import_runs_on_a_worker_and_survives_a_restart(app) {
        let w = world(&app).await;
        let mut upload = Upload::begin(&app, &admin(), request(&w), "list.csv").await.unwrap();
        upload.write(b"Mobile,First Name\n").await.unwrap();
        for i in 0..30 {
            upload.write(format!("04120000{i:02},N{i}\n").as_bytes()).await.unwrap();
        }
        let job = upload.finish().await.unwrap();
        assert_eq!(job.status, JobStatus::Pending);
        // A node takes the job, commits two batches and dies.
        let stop = Tuning { batch_rows: 5, stop_after_batches: Some(2) };
        assert!(imports::work_once(&app, stop).await.unwrap());
        let job = imports::get(&app, &admin(), job.id).await.unwrap();
        assert_eq!((job.status, job.checkpoint.loaded), (JobStatus::Running, 10));
        // While its claim lasts nobody else takes it; once it lapses another node resumes it.
        assert!(!imports::work_once(&app, Tuning::default()).await.unwrap());
        let later = App { clock: TestClock::at("2099-01-01T00:00:00Z"), ..app.clone() };
        assert!(imports::work_once(&later, Tuning { batch_rows: 5, stop_after_batches: None }).await.unwrap());
        let job = imports::get(&app, &admin(), job.id).await.unwrap();
        assert_eq!((job.status, job.checkpoint.loaded, job.checkpoint.rows_read), (JobStatus::Done, 30, 30));
        assert_eq!(leads_of(&app, w.campaign).await.len(), 30);
        // Its stored body is gone once it is done.
        let mut conn = app.store.read().await.unwrap();
        assert!(leadline_store::imports::chunk_at(&mut conn, job.id, 0).await.unwrap().is_none());
    }

    async fn a_bad_http_body_is_refused_and_leaves_no_job(app) {
        let w = world(&app).await;
        let mut upload = Upload::begin(&app, &admin(), request(&w), "bad.csv").await.unwrap();
        let id = upload.job_id();
        upload.write(b"Mobile,First Name\n0412000001,A\n0412000002\n").await.unwrap();
        let error = upload.finish().await.unwrap_err();
        assert_eq!(error.to_string(), "file: line 3: the row has 1 fields but the header has 2");
        assert!(matches!(imports::get(&app, &admin(), id).await, Err(AppError::NotFound { .. })));
    }

    async fn an_upload_cut_off_half_way_is_marked_failed(app) {
        let w = world(&app).await;
        let mut upload = Upload::begin(&app, &admin(), request(&w), "cut.csv").await.unwrap();
        let id = upload.job_id();
        upload.write(b"Mobile\n0412000001\n").await.unwrap();
        drop(upload);
        let later = App { clock: TestClock::at("2099-01-01T00:00:00Z"), ..app.clone() };
        imports::work_once(&later, Tuning::default()).await.unwrap();
        let job = imports::get(&app, &admin(), id).await.unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.as_deref(), Some("the upload was cut off before the whole body arrived"));
        let _ = SignedDuration::ZERO;
    }

    async fn an_upload_that_keeps_sending_keeps_its_claim_however_small_its_pieces(app) {
        let w = world(&app).await;
        let clock = TestClock::at("2030-01-01T00:00:00Z");
        let app = App { clock: clock.clone(), ..app.clone() };
        let mut upload = Upload::begin(&app, &admin(), request(&w), "slow.csv").await.unwrap();
        let id = upload.job_id();
        upload.write(b"Mobile\n").await.unwrap();
        // A row every 20 seconds for two minutes: far less than a stored chunk, far longer than
        // one claim. The worker looking for abandoned uploads each time must leave it alone.
        for i in 0..6 {
            clock.advance(SignedDuration::from_secs(20));
            upload.write(format!("04120000{i:02}\n").as_bytes()).await.unwrap();
            imports::work_once(&app, Tuning::default()).await.unwrap();
            let job = imports::get(&app, &admin(), id).await.unwrap();
            assert_eq!(job.status, JobStatus::Receiving, "after {} seconds", 20 * (i + 1));
        }
        assert_eq!(upload.finish().await.unwrap().status, JobStatus::Pending);
    }

    async fn an_upload_failed_as_abandoned_is_refused_at_finish_and_never_revived(app) {
        let w = world(&app).await;
        let clock = TestClock::at("2030-01-01T00:00:00Z");
        let app = App { clock: clock.clone(), ..app.clone() };
        let mut upload = Upload::begin(&app, &admin(), request(&w), "stalled.csv").await.unwrap();
        let id = upload.job_id();
        upload.write(b"Mobile\n0412000001\n").await.unwrap();
        // The node stalls past its claim; another node's worker fails the upload as abandoned.
        let later = App { clock: TestClock::at("2030-01-01T01:00:00Z"), ..app.clone() };
        imports::work_once(&later, Tuning::default()).await.unwrap();
        upload.write(b"0412000002\n").await.unwrap();
        let error = upload.finish().await.unwrap_err();
        assert!(matches!(&error, AppError::Conflict(m) if m.contains("no longer held")), "{error:?}");
        let job = imports::get(&app, &admin(), id).await.unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.as_deref(), Some("the upload was cut off before the whole body arrived"));
        assert!(!imports::work_once(&later, Tuning::default()).await.unwrap());
        assert!(leads_of(&app, w.campaign).await.is_empty());
    }

    async fn a_stored_body_missing_a_chunk_fails_its_job_instead_of_loading_part_of_it(app) {
        let w = world(&app).await;
        let mut upload = Upload::begin(&app, &admin(), request(&w), "long.csv").await.unwrap();
        upload.write(b"Mobile,Suburb\n").await.unwrap();
        // 5,000 rows of 250 bytes: two stored chunks, the second starting at 1 MiB.
        let suburb = "x".repeat(238);
        for i in 0..5000 {
            upload.write(format!("0412{i:06},{suburb}\n").as_bytes()).await.unwrap();
        }
        let job = upload.finish().await.unwrap();
        // The tail of the body is lost (as when a node that took the job over removed its chunks).
        let mut tx = app.store.begin().await.unwrap();
        tx.run(&Sql::fixed("DELETE FROM import_chunks WHERE import_id = $1 AND seq = 1", leadline_store::args![job.id])).await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(imports::work_once(&app, Tuning::default()).await.unwrap());
        let job = imports::get(&app, &admin(), job.id).await.unwrap();
        assert_eq!(job.status, JobStatus::Failed, "a body cut short is never reported done");
        let error = job.error.unwrap_or_default();
        assert!(error.contains("has no chunk at byte 1048576 of 1250014"), "{error}");
        assert!(leads_of(&app, w.campaign).await.is_empty());
    }

    async fn a_node_that_lost_a_job_can_neither_end_it_nor_make_it_pending(app) {
        use leadline_store::imports as store;
        let w = world(&app).await;
        let mut upload = Upload::begin(&app, &admin(), request(&w), "list.csv").await.unwrap();
        upload.write(b"Mobile\n0412000001\n").await.unwrap();
        let id = upload.finish().await.unwrap().id;
        let t0: jiff::Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let t1: jiff::Timestamp = "2030-01-01T00:05:00Z".parse().unwrap();
        let minute = SignedDuration::from_secs(60);
        let mut tx = app.store.begin().await.unwrap();
        assert!(store::claim(&mut tx, id, "first", t0, t0 + minute).await.unwrap());
        // The first holder's claim lapses and a second node takes the job over.
        assert!(store::claim(&mut tx, id, "second", t1, t1 + minute).await.unwrap());
        assert!(!store::extend_claim(&mut tx, id, "first", t1 + minute).await.unwrap());
        assert!(!store::finish(&mut tx, id, "first", JobStatus::Failed, Some("stale"), t1).await.unwrap());
        assert!(!store::make_pending(&mut tx, id, "first", t1).await.unwrap());
        assert!(!store::delete_job(&mut tx, id, "first").await.unwrap());
        tx.commit().await.unwrap();
        let job = imports::get(&app, &admin(), id).await.unwrap();
        assert_eq!((job.status, job.claim_token.as_deref(), job.error), (JobStatus::Running, Some("second"), None));
        assert!(leadline_store::imports::chunk_at(&mut app.store.read().await.unwrap(), id, 0).await.unwrap().is_some());
    }

    async fn an_http_import_runs_as_its_key_and_stops_once_that_key_is_revoked(app) {
        let w = world(&app).await;
        let dialer = sign_in(&app, KeyRequest { campaign_ids: vec![w.campaign], ..key_request("dialer") }).await;
        let mut upload = Upload::begin(&app, &dialer, request(&w), "list.csv").await.unwrap();
        upload.write(b"Mobile\n").await.unwrap();
        for i in 0..30 {
            upload.write(format!("04120000{i:02}\n").as_bytes()).await.unwrap();
        }
        let id = upload.finish().await.unwrap().id;
        assert!(imports::work_once(&app, Tuning { batch_rows: 5, stop_after_batches: Some(2) }).await.unwrap());
        keys::revoke(&app, &admin(), dialer.key_id.unwrap()).await.unwrap();
        // The run resumes on another node once its claim lapses, and finds its key revoked.
        let later = App { clock: TestClock::at("2099-01-01T00:00:00Z"), ..app.clone() };
        assert!(imports::work_once(&later, Tuning { batch_rows: 5, stop_after_batches: None }).await.unwrap());
        let job = imports::get(&app, &admin(), id).await.unwrap();
        assert_eq!((job.status, job.checkpoint.loaded), (JobStatus::Failed, 10));
        let error = job.error.unwrap_or_default();
        assert!(error.starts_with(&format!("import {id} stopped: the key that started it")), "{error}");
        assert!(error.contains("was revoked at"), "{error}");
        assert_eq!(leads_of(&app, w.campaign).await.len(), 10);
    }

    async fn an_http_import_stops_when_its_key_expired_or_may_no_longer_load_into_the_campaign(app) {
        let w = world(&app).await;
        let campaigns = vec![w.campaign, w.other_campaign];
        let brief = sign_in(&app, KeyRequest { campaign_ids: campaigns.clone(), expires_in: Some("1h".into()), ..key_request("dialer") }).await;
        let moved = sign_in(&app, KeyRequest { campaign_ids: campaigns, ..key_request("dialer") }).await;
        let mut ids = Vec::new();
        for by in [&brief, &moved] {
            let mut upload = Upload::begin(&app, by, request(&w), "list.csv").await.unwrap();
            upload.write(b"Mobile\n0412000001\n").await.unwrap();
            ids.push(upload.finish().await.unwrap().id);
        }
        // The second key is narrowed to the other campaign only (as a change of its scope would).
        let mut tx = app.store.begin().await.unwrap();
        tx.run(&Sql::fixed("UPDATE api_keys SET campaign_ids = $1 WHERE id = $2", leadline_store::args![format!("[{}]", w.other_campaign), moved.key_id.unwrap()])).await
            .unwrap();
        tx.commit().await.unwrap();
        let later = App { clock: TestClock::at("2099-01-01T00:00:00Z"), ..app.clone() };
        while imports::work_once(&later, Tuning::default()).await.unwrap() {}
        let expired = imports::get(&app, &admin(), ids[0]).await.unwrap();
        assert_eq!(expired.status, JobStatus::Failed);
        assert!(expired.error.unwrap_or_default().contains("expired at"));
        let narrowed = imports::get(&app, &admin(), ids[1]).await.unwrap();
        assert_eq!(narrowed.status, JobStatus::Failed);
        assert_eq!(
            narrowed.error.as_deref(),
            Some(format!("import {} stopped: the key that started it ({}) may no longer load leads into campaign {}", ids[1], moved.key_id.unwrap(), w.campaign).as_str())
        );
        assert!(leads_of(&app, w.campaign).await.is_empty());
    }

    async fn a_key_may_have_only_so_many_uploads_arriving_and_bytes_held_at_once(app) {
        use leadline_app::imports::{OverLimit, UploadError, UploadLimits};
        let app = App { upload_limits: UploadLimits { uploads_per_key: 2, bytes_per_key: 100 }, ..app };
        let w = world(&app).await;
        let dialer = sign_in(&app, KeyRequest { campaign_ids: vec![w.campaign], ..key_request("dialer") }).await;
        let other = sign_in(&app, KeyRequest { campaign_ids: vec![w.campaign], ..key_request("dialer") }).await;
        let mut a = Upload::begin(&app, &dialer, request(&w), "a.csv").await.unwrap();
        let b = Upload::begin(&app, &dialer, request(&w), "b.csv").await.unwrap();
        let third = Upload::begin(&app, &dialer, request(&w), "c.csv").await;
        assert!(matches!(third, Err(UploadError::OverLimit(OverLimit::Uploads { limit: 2 }))), "{:?}", third.err());
        // Other keys, and the operator, are not held back by this key's uploads.
        Upload::begin(&app, &other, request(&w), "d.csv").await.unwrap().abort().await.unwrap();
        Upload::begin(&app, &admin(), request(&w), "e.csv").await.unwrap().abort().await.unwrap();
        b.abort().await.unwrap();
        // 60 bytes held by a pending job; a second body is refused once it passes the other 40.
        a.write(b"Mobile\n").await.unwrap();
        for i in 0..3 {
            a.write(format!("04120000{i:02}\n").as_bytes()).await.unwrap();
        }
        a.write(format!("{:>19}\n", "0412000099").as_bytes()).await.unwrap();
        let a = a.finish().await.unwrap();
        assert_eq!(a.file_bytes, 60);
        let mut c = Upload::begin(&app, &dialer, request(&w), "c.csv").await.unwrap();
        let c_id = c.job_id();
        c.write(&[b'x'; 40]).await.unwrap();
        let over = c.write(b"x").await.unwrap_err();
        assert!(matches!(over, UploadError::OverLimit(OverLimit::Bytes { limit: 100, held: 60 })), "{over:?}");
        c.abort().await.unwrap();
        assert!(matches!(imports::get(&app, &admin(), c_id).await, Err(AppError::NotFound { .. })));
        // Once the first job has run, its bytes no longer count.
        while imports::work_once(&app, Tuning::default()).await.unwrap() {}
        let mut d = Upload::begin(&app, &dialer, request(&w), "d.csv").await.unwrap();
        d.write(&[b'x'; 100]).await.unwrap();
        d.abort().await.unwrap();
    }

    async fn an_export_imports_into_a_new_campaign_with_every_field_kept(app) {
        let w = world(&app).await;
        new_lead(&app, json!({"campaign_id": w.campaign, "allocation_id": w.allocation, "external_id": "E,1",
            "name": "Ann \"Annie\" Lee", "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
            "phones": ["61412000001", "61383218199"], "address1": "1 Main St\nUnit 2", "city": "Perth", "state": "WA",
            "postal_code": "6000", "country": "AU", "fields": {"Roof Type": "tile", "Mobile": "61412000001", "n": 3, "ok": true},
            "priority": 3, "callback_at": "2026-05-01T01:30:00Z", "description": "likes ☀️"})).await;
        new_lead(&app, json!({"campaign_id": w.campaign, "allocation_id": w.allocation, "phones": ["61412000002"]})).await;
        let mut bytes = Vec::new();
        let selection = leadline_app::export::Selection { campaign_id: Some(w.campaign), ..Default::default() };
        let count = leadline_app::export::export(&app, &admin(), &selection, leadline_app::export::Format::Csv, Default::default(), |chunk| {
            bytes.extend_from_slice(&chunk);
            async { Ok(()) }
        })
        .await
        .unwrap();
        assert_eq!(count, 2);
        let path = file(&bytes);
        let req = ImportRequest { campaign_id: w.other_campaign, allocation_id: w.other_allocation, ..ImportRequest::default() };
        let outcome = run(&app, &req, &path).await.unwrap();
        assert_eq!(outcome.counts.loaded, 2, "{:?}", rejects_of(&app, outcome.job_id.unwrap()).await);
        let before = leads_of(&app, w.campaign).await;
        let after = leads_of(&app, w.other_campaign).await;
        for (old, new) in before.iter().zip(&after) {
            let content = |l: &Lead| {
                let mut l = l.clone();
                (l.id, l.lead_ref, l.campaign_id, l.allocation_id) = (0, String::new(), None, None);
                (l.created_at, l.updated_at) = (jiff::Timestamp::UNIX_EPOCH, jiff::Timestamp::UNIX_EPOCH);
                l
            };
            assert_eq!(content(old), content(new));
            assert_eq!(new.campaign_id, Some(w.other_campaign));
        }
    }
}
