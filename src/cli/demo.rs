pub async fn load(_state: &crate::app::AppState) -> anyhow::Result<()> { Ok(()) }
