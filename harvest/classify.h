/*
 * What a response means for the harvest: one pure, table-driven function
 * from what came back (HTTP status, transport result, OAI error code,
 * Retry-After, a bot wall or an HTML page) and what was asked (the phase)
 * to what to do (go on, retry after a delay, narrow the window, fail,
 * stop as forbidden or blocked, stop at a limit).  The session only does
 * what it returns.  Private to harvest/.
 */
#ifndef OH_CLASSIFY_H
#define OH_CLASSIFY_H

/* What was asked. */
enum classify_phase {
	CLASSIFY_IDENTIFY, /* Identify, at a run's start */
	CLASSIFY_LIST,	   /* a ListRecords page */
	CLASSIFY_WINDOW,   /* a date window's first page: may narrow */
	CLASSIFY_SWEEP,	   /* a deletion sweep's ListIdentifiers page */
	CLASSIFY_REQUEST,  /* a one-off request (get-record, ...) */
};

/* OAI-PMH's error codes (section 3.6), and any other. */
enum classify_oai_code {
	OAI_ERR_NONE = 0,
	OAI_ERR_BAD_ARGUMENT,
	OAI_ERR_BAD_RESUMPTION_TOKEN,
	OAI_ERR_BAD_VERB,
	OAI_ERR_CANNOT_DISSEMINATE_FORMAT,
	OAI_ERR_ID_DOES_NOT_EXIST,
	OAI_ERR_NO_RECORDS_MATCH,
	OAI_ERR_NO_METADATA_FORMATS,
	OAI_ERR_NO_SET_HIERARCHY,
	OAI_ERR_OTHER, /* a code OAI-PMH does not define */
};

struct classify_in {
	enum classify_phase phase;
	long		    status;	 /* HTTP status, 0: none */
	int		    transfer_ok; /* completed, with 200 */
	int		    curl_failed; /* a transport error */
	int		    over_limit;	 /* past max_response_bytes */
	int		    sink_failed; /* the body was refused as it
						   came (did not parse) */
	int		    failed;	 /* the response is not usable:
						   the transfer or the parse
						   failed */
	int		    own_limit;	 /* a limit of ours on the body
						   (inflated size, spool) */
	long long	    retry_after; /* seconds, 0: none */
	/*
	 * The OAI error code of the response: of a good one, or of the
	 * error document that came with another status; NULL: none.
	 */
	const char *oai_error;
	int	    html; /* the body is an HTML page */
	const char *wall; /* whose bot wall, or NULL */
	/* A list page's OAI error. */
	int has_token;	 /* the request sent a token */
	int count_short; /* fewer records than the
						   completeListSize said */
	int can_restart; /* restarts of the list left */
	/* Retries: the try that failed (1-based) of max_tries. */
	int	     attempt;
	int	     max_tries;
	long long    base_ms;
	long long    retry_after_max;
	unsigned int seed;
};

enum classify_action {
	CLASSIFY_OK,	     /* the answer asked for (for a one-off
				   request, an OAI error document too) */
	CLASSIFY_NO_RECORDS, /* noRecordsMatch: the list ends here */
	CLASSIFY_RESTART,    /* the token is lost: start the list again */
	CLASSIFY_RETRY,	     /* try again after delay_ms */
	CLASSIFY_NARROW,     /* halve the window and try again; if it
				   cannot be, as delay_ms says (-1: fail) */
	CLASSIFY_FAIL,	     /* the run fails, as error_type */
	CLASSIFY_FORBIDDEN,  /* 403: stop until an operator acts */
	CLASSIFY_BLOCKED,    /* a bot wall: likewise */
	CLASSIFY_LIMIT,	     /* too large: the same again would be */
};

struct classify_out {
	enum classify_action   action;
	const char	      *error_type; /* the harvest_result's */
	long long	       delay_ms;   /* RETRY, NARROW; -1: none */
	enum classify_oai_code code;
	int		       error_body; /* the OAI error came with a
						   status other than 200 */
	int		       html;	   /* the cause: an HTML page */
};

void classify(const struct classify_in *, struct classify_out *);
/* The code's entry; OAI_ERR_OTHER for a code OAI-PMH does not define. */
enum classify_oai_code classify_oai_code(const char *);
const char	      *classify_action_name(enum classify_action);

#endif
