//! The attempt tables as sea-orm sees them.

pub(crate) mod attempt {
    use sea_orm::entity::prelude::*;

    /// One attempt of a person at a quiz, numbered from 1 per quiz and person (unique).
    /// `score` is the kept value of the attempt: the auto-graded `auto_score` until an
    /// instructor changes it. `answers_sealed` holds the answers as JSON, sealed.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "quiz_attempts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub quiz_id: Uuid,
        pub course_id: Uuid,
        pub person_id: Uuid,
        pub number: i32,
        pub started_at: DateTimeUtc,
        pub deadline_at: Option<DateTimeUtc>,
        pub submitted_at: Option<DateTimeUtc>,
        pub auto_score: Option<i32>,
        pub score: Option<i32>,
        pub max_score: Option<i32>,
        pub passed: Option<bool>,
        pub per_question: Option<String>,
        pub answers_sealed: Option<Vec<u8>>,
        pub revision: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod grade_change {
    use sea_orm::entity::prelude::*;

    /// An instructor's change of an attempt's score: who (`changed_by`, an actor label),
    /// old, new, why (sealed). `person_id` is the learner whose attempt it is.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "attempt_grade_changes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub attempt_id: Uuid,
        pub person_id: Uuid,
        pub changed_by: String,
        pub old_score: i32,
        pub new_score: i32,
        pub reason_sealed: Vec<u8>,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
