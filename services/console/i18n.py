"""UI strings per language (zh-CN by default, English on ``?lang=en``), dates in Beijing time."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


TZ = ZoneInfo("Asia/Shanghai")
LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "app": "督办", "home": "首页", "ledger": "台账", "new_item": "登记事项", "score": "考核得分",
        "signin": "登录", "signout": "退出", "signin_dev": "开发模式登录（内置签发者）",
        "tenant": "租户", "unit": "单位", "role": "角色", "signed_in_as": "当前用户",
        "dashboard": "督办总览", "my_tasks": "我的任务", "overdue_tasks": "逾期任务",
        "ranking": "本年度排名（前10）", "rank": "名次", "total": "总分", "open_tasks": "在办任务",
        "light_green": "绿灯", "light_yellow": "黄灯", "light_red": "红灯", "closed_tasks": "已办结",
        "status": "状态", "light": "灯色", "search": "搜索", "q": "事项名称或编号", "filter": "筛选",
        "next_page": "下一页", "first_page": "第一页", "none": "暂无", "title": "标题",
        "item": "事项", "lead_unit": "牵头单位", "co_units": "协办单位", "due": "办理时限",
        "urgency": "紧急程度", "source_kind": "来源类别", "source_ref": "来源文号",
        "history": "办理过程", "reports": "进展报告", "actions": "操作", "comment": "意见",
        "sign": "签收", "progress": "报告进展", "submit": "报结", "accept": "审核通过（办结）",
        "return": "退回重办", "reverify": "复核", "report_text": "进展情况", "photo": "佐证材料（照片）",
        "send_report": "提交进展", "tasks": "任务", "add_rows": "增加任务行", "register": "登记",
        "item_open": "在办", "item_closed": "已销号", "closed_at": "销号时间",
        "progress_of": "进度", "entries": "得分明细", "points": "分值", "rule": "规则",
        "reason": "说明", "at": "时间", "rates": "指标", "on_time_rate": "按期办结率",
        "completion_rate": "办结率", "tasks_due": "应办任务", "base": "基础分",
        "not_found": "未找到", "not_found_text": "该页面不存在，或不在您的权限范围内。",
        "person_name": "姓名（可不填）", "person_name_hint": "如：王局长；领导据此看到所督办的事项",
        "error": "出错了", "back": "返回", "days_left": "剩余 {n} 个工作日", "due_today": "今日到期",
        "days_over": "已逾期 {n} 个工作日", "overdue": "逾期", "period": "考核期",
        "registered": "事项已登记", "done": "已完成操作", "no_unit": "（全部）",
        "signin_required": "请先登录", "dev_only": "生产环境请通过统一身份认证登录。",
        "lang_switch": "English", "view_score": "查看得分", "item_status": "事项状态",
        "s_assigned": "待签收", "s_signed": "已签收", "s_in_progress": "办理中", "s_submitted": "已报结",
        "s_accepted": "已办结", "s_cancelled": "已撤销", "s_suspended": "已中止",
        "u_extra_urgent": "特急", "u_urgent": "紧急", "u_normal": "一般",
        "r_admin": "系统管理员", "r_office": "督查室", "r_leader": "领导", "r_unit_head": "单位负责人",
        "r_unit_handler": "单位经办人", "r_viewer": "查阅人",
        "k_meeting_decision": "会议决定", "k_leader_instruction": "领导批示",
        "k_superior_requirement": "上级要求", "k_annual_key_work": "年度重点工作",
        "k_hotline_case": "热线案件", "k_letter_visit": "信访件", "k_other": "其他",
        "a_sign": "签收", "a_progress": "报告进展", "a_submit": "报结", "a_accept": "办结",
        "a_return": "退回重办", "a_reverify": "复核", "a_cancel": "撤销", "a_suspend": "中止",
        "a_resume": "恢复", "a_assign": "交办", "evidence": "佐证",
        "a_urge": "催办", "a_extension_request": "申请延期", "a_extension_grant": "同意延期",
        "a_extension_refuse": "不同意延期", "urge": "催办", "cancel": "撤销", "suspend": "中止",
        "resume": "恢复", "ask_extension": "申请延期", "new_due": "申请延至", "ext_grant": "同意延期",
        "ext_refuse": "不同意延期", "extension_pending": "延期申请待审批",
        "new_due_needed": "请填写申请延至的日期", "inbox": "消息", "unread": "未读", "read": "已读",
        "mark_all_read": "全部标为已读", "marked_read": "已将 {n} 条消息标为已读",
        "recipient": "单位或人员编号", "show": "查看", "inbox_of": "消息 · {who}",
        "bulletins": "通报", "issue_bulletin": "发布通报", "kind": "类别", "issuer": "发布机关",
        "units": "单位编号（逗号分隔）", "persons": "责任人（逗号分隔，可不填）", "issue": "发布",
        "b_criticism": "通报批评", "b_commendation": "通报表扬", "i_office": "督查办",
        "i_committee": "督查委员会", "bulletin_issued": "已发布{kind}（{units}），编号 {id}",
        "bulletin_ledger": "通报计入被通报单位的考核得分，可在单位得分页查看。",
        "appeal": "申诉", "appeals": "申诉", "appeal_reason": "申诉理由", "file_appeal": "提交申诉",
        "bad_entry": "未指明要申诉的得分条目", "appeal_filed": "申诉已提交，编号 {id}",
        "appeal_id": "申诉编号", "appeal_lookup": "按编号查看申诉（编号见提交申诉后的提示或下方列表）",
        "entry_id": "得分条目", "filed_by": "申诉人", "filed_at": "提交时间", "decided_by": "处理人",
        "decided_at": "处理时间", "ap_uphold": "维持原分", "ap_reverse": "撤销扣分（申诉成立）",
        "ap_pending": "待处理", "ap_upheld": "已维持", "ap_reversed": "已撤销",
        "deliveries": "投递", "deliveries_title": "消息投递（失败的可重发）", "channel": "渠道",
        "attempts": "尝试次数", "last_error": "最后错误", "resend": "重发", "all": "全部",
        "resent": "已重新投递 {id}", "d_dead": "失败", "d_pending": "待投递", "d_sent": "已投递",
        "templates": "消息模板", "language": "语言", "body": "正文", "save": "保存", "reset": "恢复默认",
        "customised": "已修改", "default": "默认", "templates_read_only": "只有系统管理员可以修改模板。",
        # the administrator's pages and OIDC sign-in (admin_pages.py, oidc.py)
        "admin": "系统管理", "admin_only": "仅限管理员（督查办可查看）。",
        "admin_read_only": "督查办可查看，修改须由管理员进行。",
        "calendar": "工作日历", "calendar_about": "法定节假日与调休上班日；保存后按工作日计算的在办时限随之调整。",
        "rule_sets": "考核细则", "rule_sets_about": "考核规则版本：发布新版本、指定自某考核期起适用的版本。",
        "channels": "通知渠道", "channels_about": "单位的群机器人（企业微信、钉钉、飞书）与 OA 推送地址。",
        "org_units": "组织机构", "org_units_about": "单位树：新建、改名、调整隶属、停用与恢复。",
        "people": "人员", "people_about": "人员名录与个人的通知方式。",
        "bad_year": "请填写年份", "calendar_saved": "{year} 年日历已保存：节假日 {h} 天，调休上班 {w} 天",
        "holidays": "节假日", "workdays": "调休上班日", "load_year": "载入或修改一年",
        "load_year_help": "日期格式 YYYY-MM-DD，每行一个（或以逗号、空格分隔）；整年替换。",
        "year": "年份", "origin_builtin": "内置", "origin_loaded": "已载入", "origin_none": "无数据（仅周末）",
        "version": "版本", "name": "名称", "published_by": "发布人", "publish_rules": "发布新版本",
        "publish_rules_help": "JSON 或 YAML；请使用新的版本号，已发布的版本不可更改。",
        "rules_text": "规则内容", "publish": "发布", "rules_published": "考核细则 {version} 已发布",
        "switch_rules": "切换适用版本", "switch_rules_help": "只能从尚未开始的考核期起切换。",
        "from_period": "自考核期起", "switch": "切换", "rules_switched": "自 {start} 起适用 {version}",
        "secrets_hidden": "机器人地址含访问令牌，只显示主机名；密钥不会回显。",
        "robots": "群机器人", "host": "主机", "signed": "加签", "yes": "是", "no": "否",
        "ch_wecom": "企业微信", "ch_dingtalk": "钉钉", "ch_feishu": "飞书", "ch_email": "电子邮件",
        "ch_sms": "短信", "set_robot": "设置单位机器人", "webhook_url": "Webhook 地址",
        "robot_secret": "加签密钥（钉钉、飞书）", "robot_needs": "请填写单位并选择渠道",
        "robot_saved": "{unit} 的机器人已保存（{host}）", "delete": "删除", "oa_webhook": "OA 推送",
        "oa_secret": "签名密钥（至少16位）", "oa_types": "事件类型前缀（留空为全部）",
        "preferences_where": "个人的通知方式在人员页面设置：",
        "active": "启用", "inactive": "已停用", "edit": "修改", "root": "（顶级）", "parent": "上级单位",
        "new_unit": "新建单位", "unit_id": "单位编号", "create": "新建",
        "unit_created": "单位 {id} 已新建", "unit_rename": "改名", "unit_move": "调整隶属",
        "unit_deactivate": "停用", "unit_reactivate": "恢复",
        "person_id": "人员编号", "person_roles": "身份", "pr_head": "负责人", "pr_handler": "经办人",
        "pr_leader": "分管领导", "pr_supervisor": "督办人", "new_person": "新增人员",
        "email": "电子邮箱", "mobile": "手机", "wecom_user": "企业微信账号", "dingtalk_user": "钉钉账号",
        "feishu_user": "飞书账号", "person_saved": "人员 {id} 已保存", "preferences": "通知方式",
        "signin_oidc": "统一身份认证登录",
        "csrf_refused": "表单已过期或来源不明，未做任何修改。请刷新页面后重试。",
        "chart_rates": "办结率与按期办结率（近12个月）", "chart_by_unit": "各单位逾期与停滞任务",
        "chart_rates_note": "按当月到期的任务计算", "chart_unavailable": "暂无数据（考核排名未开启或评分服务无响应）",
        "stagnant": "停滞", "leader_view": "领导督办", "screen": "大屏", "screen_title": "督办大屏",
        "supervising_leader": "督办领导", "items_i_supervise": "我督办的事项", "red_list": "红灯（逾期）任务",
        "full_ranking": "本年度排名", "ranking_year": "{year}年度排名", "top": "前五名", "bottom": "后五名",
        "updated_at": "更新于", "refresh_every": "每 {n} 秒自动刷新", "sort": "排序",
        "sort_due": "按时限（由近到远）", "sort_-due": "按时限（由远到近）", "export_xlsx": "导出Excel",
        "export_too_many": "符合条件的任务有 {n} 条，超过导出上限 {cap} 条，请缩小筛选范围后再导出。",
        "import_items": "批量导入", "import_file": "Excel文件（.xlsx）", "import_do": "导入",
        "import_template": "下载导入模板", "import_hint": "每行一个任务，同一事项的各列在每行重复；有任何错误时不会创建任何事项。",
        "import_errors": "表格中的问题（未创建任何事项）", "row": "行", "column": "列",
        "import_done": "已导入 {items} 个事项、{tasks} 个任务", "import_no_file": "请选择要导入的Excel文件",
        "number": "编号",
        "bulletin_list": "已发布的通报", "appeal_list": "申诉列表",
        "timeline": "办理经过", "report_missed": "{period} 期未按时报送进展", "milestones": "节点",
        "reached": "已完成", "sub_tasks": "分解任务", "parent_task": "上级任务", "report_parts": "各单位报送情况",
        "part_missing": "未报送", "next_reminder": "下次提醒",
        "a_reminder": "系统提醒", "a_deadline_changed": "办理时限调整", "a_dispatch": "分解交办",
        "a_milestone_reached": "完成节点",
        "trace": "全链路追踪", "trace_open": "查看该事项的端到端追踪",
        "red_shown": "显示逾期最久的 {n} 项",
    },
    "en": {
        "app": "Duban", "home": "Home", "ledger": "Ledger", "new_item": "Register item",
        "score": "Score", "signin": "Sign in", "signout": "Sign out",
        "signin_dev": "Developer sign-in (embedded issuer)", "tenant": "Tenant", "unit": "Unit",
        "role": "Role", "signed_in_as": "Signed in as", "dashboard": "Overview", "my_tasks": "My tasks",
        "overdue_tasks": "Overdue tasks", "ranking": "This year's ranking (top 10)", "rank": "Rank",
        "total": "Total", "open_tasks": "Open tasks", "light_green": "Green", "light_yellow": "Yellow",
        "light_red": "Red", "closed_tasks": "Closed", "status": "Status", "light": "Light",
        "search": "Search", "q": "Item title or number", "filter": "Filter", "next_page": "Next page",
        "first_page": "First page", "none": "None", "title": "Title", "item": "Item",
        "lead_unit": "Lead unit", "co_units": "Co-units", "due": "Deadline", "urgency": "Urgency",
        "source_kind": "Source", "source_ref": "Source reference", "history": "History",
        "reports": "Progress reports", "actions": "Actions", "comment": "Comment", "sign": "Sign",
        "progress": "Report progress", "submit": "Submit", "accept": "Accept (close)",
        "return": "Return for redo", "reverify": "Re-verify", "report_text": "Progress",
        "photo": "Evidence (photo)", "send_report": "Send report", "tasks": "Tasks",
        "add_rows": "More task rows", "register": "Register", "item_open": "Open",
        "item_closed": "Closed off the ledger", "closed_at": "Closed at", "progress_of": "Progress",
        "entries": "Entries", "points": "Points", "rule": "Rule", "reason": "Explanation", "at": "At",
        "rates": "Rates", "on_time_rate": "On-time rate", "completion_rate": "Completion rate",
        "tasks_due": "Tasks due", "base": "Base", "not_found": "Not found",
        "not_found_text": "This page does not exist or is outside your scope.", "error": "Error",
        "person_name": "Name (optional)",
        "person_name_hint": "e.g. the leader named on the items they supervise", "back": "Back",
        "days_left": "{n} working days left", "due_today": "Due today",
        "days_over": "{n} working days overdue", "overdue": "Overdue", "period": "Period",
        "registered": "Item registered", "done": "Done", "no_unit": "(all)",
        "signin_required": "Please sign in", "dev_only": "In production, sign in with the identity provider.",
        "lang_switch": "中文", "view_score": "View score", "item_status": "Item status",
        "s_assigned": "Assigned", "s_signed": "Signed", "s_in_progress": "In progress",
        "s_submitted": "Submitted", "s_accepted": "Accepted", "s_cancelled": "Cancelled",
        "s_suspended": "Suspended", "u_extra_urgent": "Extra urgent", "u_urgent": "Urgent",
        "u_normal": "Normal", "r_admin": "Administrator", "r_office": "Supervision office",
        "r_leader": "Leader", "r_unit_head": "Unit head", "r_unit_handler": "Unit handler",
        "r_viewer": "Viewer", "k_meeting_decision": "Meeting decision",
        "k_leader_instruction": "Leader's instruction", "k_superior_requirement": "Superior's requirement",
        "k_annual_key_work": "Annual key work", "k_hotline_case": "Hotline case",
        "k_letter_visit": "Letter or visit", "k_other": "Other", "a_sign": "signed",
        "a_progress": "reported progress", "a_submit": "submitted", "a_accept": "accepted",
        "a_return": "returned", "a_reverify": "sent for re-verification", "a_cancel": "cancelled",
        "a_suspend": "suspended", "a_resume": "resumed", "a_assign": "assigned", "evidence": "Evidence",
        "a_urge": "urged", "a_extension_request": "asked for an extension",
        "a_extension_grant": "granted the extension", "a_extension_refuse": "refused the extension",
        "urge": "Urge", "cancel": "Cancel", "suspend": "Suspend", "resume": "Resume",
        "ask_extension": "Ask for an extension", "new_due": "New deadline",
        "ext_grant": "Grant the extension", "ext_refuse": "Refuse the extension",
        "extension_pending": "Extension request pending", "new_due_needed": "Give the new deadline",
        "inbox": "Inbox", "unread": "Unread", "read": "Read", "mark_all_read": "Mark all read",
        "marked_read": "{n} notices marked read", "recipient": "Unit or person id", "show": "Show",
        "inbox_of": "Inbox · {who}", "bulletins": "Bulletins", "issue_bulletin": "Issue a bulletin",
        "kind": "Kind", "issuer": "Issued by", "units": "Unit ids (comma-separated)",
        "persons": "Persons responsible (comma-separated, optional)", "issue": "Issue",
        "b_criticism": "Criticism", "b_commendation": "Commendation", "i_office": "Supervision office",
        "i_committee": "Supervision committee", "bulletin_issued": "{kind} issued ({units}), number {id}",
        "bulletin_ledger": "A bulletin is entered in the units' scores: see a unit's score page.",
        "appeal": "Appeal", "appeals": "Appeals", "appeal_reason": "Reason for the appeal",
        "file_appeal": "File appeal", "bad_entry": "No score entry named to appeal",
        "appeal_filed": "Appeal filed, number {id}", "appeal_id": "Appeal number",
        "appeal_lookup": "Look up an appeal by its number (shown when one is filed, and in the list below)",
        "entry_id": "Score entry", "filed_by": "Filed by", "filed_at": "Filed at",
        "decided_by": "Decided by", "decided_at": "Decided at", "ap_uphold": "Uphold the entry",
        "ap_reverse": "Reverse the entry (the unit is right)", "ap_pending": "Pending",
        "ap_upheld": "Upheld", "ap_reversed": "Reversed",
        "deliveries": "Deliveries", "deliveries_title": "Notice deliveries (failed ones can be re-sent)",
        "channel": "Channel", "attempts": "Attempts", "last_error": "Last error", "resend": "Re-send",
        "all": "All", "resent": "Re-queued {id}", "d_dead": "Failed", "d_pending": "Pending",
        "d_sent": "Sent", "templates": "Templates", "language": "Language", "body": "Body",
        "save": "Save", "reset": "Reset to default", "customised": "Customised", "default": "Default",
        "templates_read_only": "Only administrators can change templates.",
        # the administrator's pages and OIDC sign-in (admin_pages.py, oidc.py)
        "admin": "Administration", "admin_only": "For administrators (the office may read).",
        "admin_read_only": "The office may read these pages; administrators change them.",
        "calendar": "Calendar", "calendar_about": "Public holidays and adjusted working days; saving a year moves the open deadlines counted in working days.",
        "rule_sets": "Rule sets", "rule_sets_about": "Assessment rule versions: publish a new one, choose the one in force from a period on.",
        "channels": "Channels", "channels_about": "Units' group robots (WeCom, DingTalk, Feishu) and the OA webhook.",
        "org_units": "Org units", "org_units_about": "The unit tree: create, rename, move, deactivate and reactivate.",
        "people": "People", "people_about": "The people directory and each person's notice channels.",
        "bad_year": "Give a year", "calendar_saved": "Calendar {year} saved: {h} holidays, {w} adjusted working days",
        "holidays": "Holidays", "workdays": "Adjusted working days", "load_year": "Load or edit a year",
        "load_year_help": "Dates as YYYY-MM-DD, one per line (or separated by commas or spaces); the whole year is replaced.",
        "year": "Year", "origin_builtin": "built in", "origin_loaded": "loaded", "origin_none": "no data (weekends only)",
        "version": "Version", "name": "Name", "published_by": "Published by", "publish_rules": "Publish a new version",
        "publish_rules_help": "JSON or YAML; use a new version: a published version never changes.",
        "rules_text": "Rules", "publish": "Publish", "rules_published": "Rule set {version} published",
        "switch_rules": "Switch the rule set in force", "switch_rules_help": "Only from a period that has not begun.",
        "from_period": "From period", "switch": "Switch", "rules_switched": "{version} in force from {start}",
        "secrets_hidden": "Robot URLs carry access tokens: only their host is shown; secrets are never shown back.",
        "robots": "Group robots", "host": "Host", "signed": "Signed", "yes": "yes", "no": "no",
        "ch_wecom": "WeCom", "ch_dingtalk": "DingTalk", "ch_feishu": "Feishu", "ch_email": "E-mail",
        "ch_sms": "SMS", "set_robot": "Set a unit's robot", "webhook_url": "Webhook URL",
        "robot_secret": "Signing secret (DingTalk, Feishu)", "robot_needs": "Give a unit and choose a channel",
        "robot_saved": "{unit}'s robot saved ({host})", "delete": "Delete", "oa_webhook": "OA webhook",
        "oa_secret": "Signing secret (16 characters or more)", "oa_types": "Event type prefixes (empty: all)",
        "preferences_where": "A person's notice channels are set on their page:",
        "active": "Active", "inactive": "Deactivated", "edit": "Edit", "root": "(top level)", "parent": "Parent unit",
        "new_unit": "New unit", "unit_id": "Unit id", "create": "Create",
        "unit_created": "Unit {id} created", "unit_rename": "Rename", "unit_move": "Move",
        "unit_deactivate": "Deactivate", "unit_reactivate": "Reactivate",
        "person_id": "Person id", "person_roles": "Roles", "pr_head": "Head", "pr_handler": "Handler",
        "pr_leader": "Leader", "pr_supervisor": "Supervisor", "new_person": "Add a person",
        "email": "E-mail", "mobile": "Mobile", "wecom_user": "WeCom account", "dingtalk_user": "DingTalk account",
        "feishu_user": "Feishu account", "person_saved": "Person {id} saved", "preferences": "Notice channels",
        "signin_oidc": "Sign in with the enterprise account",
        "csrf_refused": "The form was stale or came from elsewhere: nothing was changed. Reload the page and try again.",
        "chart_rates": "Completion and on-time rates (last 12 months)", "chart_by_unit": "Overdue and stagnant tasks by unit",
        "chart_rates_note": "of the tasks due each month", "chart_unavailable": "No figures (rankings switched off, or scoring not answering)",
        "stagnant": "Stagnant", "leader_view": "Leader's view", "screen": "Large screen", "screen_title": "Supervision at a glance",
        "supervising_leader": "Supervising leader", "items_i_supervise": "Items I supervise", "red_list": "Red list (overdue)",
        "full_ranking": "This year's ranking", "ranking_year": "Ranking {year}", "top": "Top 5", "bottom": "Bottom 5",
        "updated_at": "Updated", "refresh_every": "refreshes every {n} s", "sort": "Sort",
        "sort_due": "Deadline, soonest first", "sort_-due": "Deadline, latest first", "export_xlsx": "Export to Excel",
        "export_too_many": "{n} tasks match, more than the export limit of {cap}: narrow the filter and export again.",
        "import_items": "Bulk import", "import_file": "Excel file (.xlsx)", "import_do": "Import",
        "import_template": "Download the template", "import_hint": "One row per task, the item's columns repeated on each row; if any row is wrong, nothing is created.",
        "import_errors": "Problems in the sheet (nothing was created)", "row": "Row", "column": "Column",
        "import_done": "Imported {items} items with {tasks} tasks", "import_no_file": "Choose the Excel file to import",
        "number": "Number",
        "bulletin_list": "Bulletins issued", "appeal_list": "Appeals",
        "timeline": "Timeline", "report_missed": "No progress report for {period}", "milestones": "Milestones",
        "reached": "reached", "sub_tasks": "Sub-tasks", "parent_task": "The parent task", "report_parts": "Each unit's report",
        "part_missing": "not reported", "next_reminder": "Next reminder",
        "a_reminder": "reminded (automatic)", "a_deadline_changed": "deadline changed", "a_dispatch": "re-dispatched",
        "a_milestone_reached": "reached a milestone",
        "trace": "Trace", "trace_open": "Open the item's end-to-end trace",
        "red_shown": "the {n} most overdue shown",
    },
}


def translator(lang: str):
    strings = STRINGS.get(lang, STRINGS[DEFAULT_LANG])

    def t(key: str, **values) -> str:
        text = strings.get(key, STRINGS["en"].get(key, key))
        return text.format(**values) if values else text

    return t


def parse_moment(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    moment = parse_moment(value)
    return moment.astimezone(TZ).strftime(fmt) if moment else ""


def remaining(t, task: dict) -> str:
    """An open task's working days left (or overdue), as tracking counts them on its calendar and
    clock (``working_days_left``); nothing for a closed task or a row without the figure."""
    n = task.get("working_days_left")
    if n is None:
        return ""
    if n < 0:
        return t("days_over", n=-n)
    return t("days_left", n=n) if n else t("due_today")


def normalise_lang(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().lower()
    if value.startswith("en"):
        return "en"
    if value.startswith("zh"):
        return "zh-CN"
    return None
