//! The learning-preferences table as sea-orm sees it.

pub mod preference {
    use sea_orm::entity::prelude::*;

    /// A person's stated preferences: `topics_sealed` is a JSON array of catalogue tags,
    /// sealed (associated data: this table, `topics`, the person id).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "learning_preferences")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub person_id: Uuid,
        pub topics_sealed: Vec<u8>,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
