//! Every way a study file can be refused, with the exact wording (insta snapshot).

use hypersearch_search::StudyConfig;

const SEARCH: &str = "[search]\nalgorithm = \"random\"\ntrials = 10\n";

/// (case, study file) pairs that must each be refused.
fn cases() -> Vec<(&'static str, String)> {
    let nn = |space: &str| format!("{SEARCH}[search.space]\n{space}\n");
    let f = |function: &str, space: &str| {
        format!("[objective]\nfunction = \"{function}\"\n{SEARCH}[search.space]\n{space}\n")
    };
    vec![
        ("unknown key in [study]", format!("[study]\nnmae = \"x\"\n{}", nn("\"training.l2\" = { float = [0, 0.1] }"))),
        ("unknown key in a domain", nn("\"training.l2\" = { float = [0, 0.1], lgo = true }")),
        ("wrong type", "[search]\ntrials = \"many\"\n[search.space]\n\"training.l2\" = { float = [0, 0.1] }\n".into()),
        ("unknown algorithm", "[search]\nalgorithm = \"bayse\"\ntrials = 3\n".into()),
        ("empty choice", nn("\"training.optimizer\" = { choice = [] }")),
        ("duplicate choice", nn("\"training.optimizer\" = { choice = [\"adam\", \"sgd\", \"adam\"] }")),
        ("low not below high", nn("\"training.learning_rate\" = { float = [0.1, 0.01] }")),
        ("non-positive log bound", nn("\"training.l2\" = { float = [0, 0.1], log = true }")),
        ("NaN bound", nn("\"training.l2\" = { float = [nan, 0.1] }")),
        ("negative learning rate", nn("\"training.learning_rate\" = { float = [-0.1, 0.1] }")),
        ("absurd batch size", nn("\"training.batch_size\" = { int = [32, 100000000] }")),
        ("unknown training key", nn("\"training.learnin_rate\" = { float = [0.001, 0.1] }")),
        ("hidden searched in the space", nn("\"network.hidden\" = { choice = [64, 128] }")),
        ("arch name in the space", nn("\"arch.layers\" = { int = [1, 3] }")),
        ("wrong choice for a training key", nn("\"network.activation\" = { choice = [\"relu\", \"softmax\"] }")),
        ("absurd units", format!("{SEARCH}[search.architecture]\nlayers = {{ int = [1, 3] }}\nunits = {{ int = [16, 1000000000] }}\n")),
        ("too many weights", format!("{SEARCH}[search.architecture]\nlayers = {{ int = [1, 4] }}\nunits = {{ choice = [64, 8192] }}\n")),
        ("absurd layers", format!("{SEARCH}[search.architecture]\nlayers = {{ int = [1, 1000] }}\nunits = {{ choice = [64] }}\n")),
        ("units without layers", format!("{SEARCH}[search.architecture]\nunits = {{ choice = [64] }}\n")),
        ("absurd epochs in the base config", format!("[training]\nepochs = 1000000\n{}", nn("\"training.l2\" = { float = [0, 0.1] }"))),
        ("per-layer dropout list with searched depth", format!("[network]\ndropout = [0.1, 0.2]\n{SEARCH}[search.architecture]\nlayers = {{ int = [1, 3] }}\nunits = {{ choice = [64] }}\n")),
        ("activation searched twice", format!("{SEARCH}[search.space]\n\"network.activation\" = {{ choice = [\"relu\"] }}\n[search.architecture]\nactivation = {{ choice = [\"elu\"] }}\n")),
        ("trials = 0", "[search]\ntrials = 0\n[search.space]\n\"training.l2\" = { float = [0, 0.1] }\n".into()),
        ("parallel = 0", "[search]\ntrials = 5\nparallel = 0\n[search.space]\n\"training.l2\" = { float = [0, 0.1] }\n".into()),
        ("missing trials", "[search]\n[search.space]\n\"training.l2\" = { float = [0, 0.1] }\n".into()),
        ("missing [search]", "[study]\nname = \"x\"\n".into()),
        ("nothing to search", SEARCH.to_string()),
        ("grid too large", "[objective]\ncommand = \"./run\"\n[study]\nmetric = \"loss\"\n[search]\nalgorithm = \"grid\"\n[search.space]\na = { int = [1, 1000] }\nb = { int = [1, 1000] }\nc = { int = [1, 1000] }\n".to_string()),
        ("grid float without step", "[objective]\ncommand = \"./run\"\n[study]\nmetric = \"loss\"\n[search]\nalgorithm = \"grid\"\n[search.space]\nlr = { float = [0.001, 0.1] }\n".to_string()),
        ("step on a log scale", f("sphere", "x1 = { float = [0.1, 1], log = true, step = 0.1 }")),
        ("unknown function", f("branine", "x1 = { float = [0, 1] }\nx2 = { float = [0, 1] }")),
        ("function dimension", f("branin", "x1 = { float = [0, 1] }")),
        ("function metric", format!("[study]\nmetric = \"loss\"\n{}", f("sphere", "x1 = { float = [0, 1] }"))),
        ("command and function", format!("[objective]\ncommand = \"./run\"\nfunction = \"sphere\"\n{SEARCH}[search.space]\nx1 = {{ float = [0, 1] }}\n")),
        ("command without metric", format!("[objective]\ncommand = \"./run\"\n{SEARCH}[search.space]\nx1 = {{ float = [0, 1] }}\n")),
        ("early stopping key of another rule", format!("{}[early_stopping]\nrule = \"median\"\nreduction_factor = 3\n", nn("\"training.l2\" = { float = [0, 0.1] }"))),
        ("unknown early stopping rule", format!("{}[early_stopping]\nrule = \"patience\"\n", nn("\"training.l2\" = { float = [0, 0.1] }"))),
        ("reduction factor 1", format!("{}[early_stopping]\nrule = \"asha\"\nreduction_factor = 1\n", nn("\"training.l2\" = { float = [0, 0.1] }"))),
        ("enqueued value out of domain", format!("{}[[search.enqueue]]\n\"training.l2\" = 0.5\n", nn("\"training.l2\" = { float = [0, 0.1] }"))),
        ("enqueued unknown name", format!("{}[[search.enqueue]]\n\"training.l3\" = 0.05\n", nn("\"training.l2\" = { float = [0, 0.1] }"))),
        ("enqueued layer without its depth", format!("{SEARCH}[search.architecture]\nlayers = {{ int = [1, 3] }}\nunits = {{ choice = [64, 128] }}\n[[search.enqueue]]\n\"arch.units_3\" = 64\n")),
        ("quarantine_after without retries", f("sphere", "x1 = { float = [0, 1] }").replace("trials = 10\n", "trials = 10\nquarantine_after = 3\n")),
        ("quarantine_after = 0", f("sphere", "x1 = { float = [0, 1] }").replace("trials = 10\n", "trials = 10\nfailure_retries = 1\nquarantine_after = 0\n")),
        ("condition on an unknown parameter", nn("\"training.momentum\" = { float = [0.5, 0.99], when = { \"training.optimiser\" = \"momentum\" } }")),
        ("condition on a value the parent never takes", nn("\"training.optimizer\" = { choice = [\"sgd\", \"momentum\"] }\n\"training.momentum\" = { float = [0.5, 0.99], when = { \"training.optimizer\" = \"momentun\" } }")),
        ("condition on a float", nn("\"training.l2\" = { float = [0, 0.1] }\n\"training.momentum\" = { float = [0.5, 0.99], when = { \"training.l2\" = 0.05 } }")),
        ("condition on itself", nn("\"training.batch_size\" = { int = [16, 64], when = { \"training.batch_size\" = 32 } }")),
        ("conditions in a cycle", nn("\"training.optimizer\" = { choice = [\"sgd\", \"adam\"], when = { \"training.batch_size\" = 32 } }\n\"training.batch_size\" = { choice = [32, 64], when = { \"training.optimizer\" = \"sgd\" } }")),
        ("empty condition", nn("\"training.momentum\" = { float = [0.5, 0.99], when = {} }")),
        ("condition on a function's parameter", f("sphere", "x1 = { float = [0, 1] }\nx2 = { float = [0, 1], when = { x1 = 0.5 } }")),
        ("condition inside the architecture", format!("{SEARCH}[search.architecture]\nlayers = {{ int = [1, 3] }}\nunits = {{ choice = [64], when = {{ \"arch.layers\" = 2 }} }}\n")),
        ("evolution population above the trials", f("sphere", "x1 = { float = [0, 1] }").replace("algorithm = \"random\"", "algorithm = \"evolution\"").replace("[search.space]", "[search.evolution]\npopulation = 50\n[search.space]")),
        ("evolution default population above the trials", f("sphere", "x1 = { float = [0, 1] }").replace("algorithm = \"random\"", "algorithm = \"evolution\"")),
        ("evolution population of one", f("sphere", "x1 = { float = [0, 1] }").replace("[search.space]", "[search.evolution]\npopulation = 1\n[search.space]")),
        ("evolution sample larger than the population", f("sphere", "x1 = { float = [0, 1] }").replace("[search.space]", "[search.evolution]\npopulation = 8\nsample_size = 9\n[search.space]")),
        ("evolution sample of zero", f("sphere", "x1 = { float = [0, 1] }").replace("[search.space]", "[search.evolution]\nsample_size = 0\n[search.space]")),
        ("unknown evolution key", f("sphere", "x1 = { float = [0, 1] }").replace("[search.space]", "[search.evolution]\ntournament = 3\n[search.space]")),
        ("metrics and directions of different lengths", format!("[study]\nmetrics = [\"f1\", \"f2\"]\ndirections = [\"minimize\"]\n{}", f("branin_currin", "x1 = { float = [0, 1] }\nx2 = { float = [0, 1] }"))),
        ("both metric and metrics", format!("[study]\nmetric = \"f1\"\nmetrics = [\"f1\", \"f2\"]\n{}", f("branin_currin", "x1 = { float = [0, 1] }\nx2 = { float = [0, 1] }"))),
        ("a bad direction", format!("[study]\nmetrics = [\"f1\", \"f2\"]\ndirections = [\"minimize\", \"maximise\"]\n{}", f("branin_currin", "x1 = { float = [0, 1] }\nx2 = { float = [0, 1] }"))),
        ("directions without metrics", format!("[study]\ndirections = [\"minimize\"]\n{}", f("sphere", "x1 = { float = [0, 1] }"))),
        ("a metric the function does not report", format!("[study]\nmetrics = [\"f1\", \"f3\"]\n{}", f("branin_currin", "x1 = { float = [0, 1] }\nx2 = { float = [0, 1] }"))),
        ("a constraint with a bad operator", format!("[study]\nconstraints = [\"f2 == 3\"]\n{}", f("branin_currin", "x1 = { float = [0, 1] }\nx2 = { float = [0, 1] }"))),
        ("a constraint bound that is not a number", format!("[study]\nconstraints = [\"f2 <= three\"]\n{}", f("branin_currin", "x1 = { float = [0, 1] }\nx2 = { float = [0, 1] }"))),
        ("an unparsable constraint", format!("[study]\nconstraints = [\"f2 is small\"]\n{}", f("branin_currin", "x1 = { float = [0, 1] }\nx2 = { float = [0, 1] }"))),
        ("a constraint on a metric nn-core never reports", format!("[study]\nconstraints = [\"latency <= 3\"]\n{}", nn("\"training.l2\" = { float = [0, 0.1] }"))),
        ("successive halving with several objectives", format!("[study]\nmetrics = [\"val_accuracy\", \"parameters\"]\ndirections = [\"maximize\", \"minimize\"]\n{}[early_stopping]\nrule = \"asha\"\n", nn("\"training.l2\" = { float = [0, 0.1] }"))),
        ("TOML syntax", "[search\ntrials = 3\n".into()),
    ]
}

#[test]
fn refused_study_files_name_key_and_line() {
    let mut report = String::new();
    for (case, text) in cases() {
        let error = match StudyConfig::from_toml_str(&text, "study.toml") {
            Ok(_) => panic!("case `{case}` was accepted:\n{text}"),
            Err(e) => e,
        };
        assert!(
            !error.to_string().contains('\n'),
            "one line per error: {error}"
        );
        report.push_str(&format!("{case}\n    {error}\n"));
    }
    insta::assert_snapshot!(report);
}
